// A backend runs kernels by name on positional arguments already validated by native/ops.ts, and owns the memory
// its kernels work on (tfjs-core style: op → kernel by name → backend).
import type { KernelName } from "./kernel-specs.ts";

export type KernelArg = Float32Array | Int32Array | number | null;

export interface KernelCall {
  kernel: KernelName;
  args: KernelArg[];
}

export interface Backend {
  readonly name: string;
  /**
   * Where the data of alloc()'s arrays lives. "host": in the arrays themselves (CPU backends). "device": in a
   * device twin of each array; the host array is not kept in step, so read it only after download() and write
   * it only before upload(). Other arrays (token ids, a test's inputs) are copied in and out around each call.
   */
  readonly memory: "host" | "device";
  /** Runs off the JS thread where the backend can; resolves to the kernel's scalar result (0 if none). */
  run(kernel: KernelName, args: KernelArg[]): Promise<number>;
  runSync(kernel: KernelName, args: KernelArg[]): number;
  /** Runs validated calls in order as one job (one hand-off to a worker thread); resolves to their results. */
  runProgram(calls: readonly KernelCall[]): Promise<Float64Array>;
  /** Zero-filled float memory suited to this backend. */
  alloc(n: number): Float32Array;
  /** Device → host for arrays (or views) from alloc(): checkpoints, state transfer. Nothing to do on the host. */
  download(arrays: readonly Float32Array[]): Promise<void>;
  /** Host → device for arrays (or views) from alloc(): data in, a loaded checkpoint. Nothing to do on the host. */
  upload(arrays: readonly Float32Array[]): Promise<void>;
}

/** download/upload of a host-memory backend: the arrays already hold the data. */
export const hostTransfer = async (_arrays: readonly Float32Array[]): Promise<void> => {};
