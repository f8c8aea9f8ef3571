// A backend runs kernels by name on positional arguments already validated by native/ops.ts.
import type { KernelName } from "./kernel-specs.ts";

export type KernelArg = Float32Array | Int32Array | number | null;

export interface KernelCall {
  kernel: KernelName;
  args: KernelArg[];
}

export interface Backend {
  readonly name: string;
  /** Runs off the JS thread where the backend can; resolves to the kernel's scalar result (0 if none). */
  run(kernel: KernelName, args: KernelArg[]): Promise<number>;
  runSync(kernel: KernelName, args: KernelArg[]): number;
  /** Runs validated calls in order as one job (one hand-off to a worker thread); resolves to their results. */
  runProgram(calls: readonly KernelCall[]): Promise<Float64Array>;
  /** Zero-filled float memory suited to this backend. */
  alloc(n: number): Float32Array;
}
