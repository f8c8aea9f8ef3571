// The op layer (tfjs-core style): validates a kernel call by its spec, then runs the kernel by name on a backend.
import type { Backend, KernelArg, KernelCall } from "./backend.ts";
import { ruleViolation } from "./kernel-rules.ts";
import { kernelSpecs, parseSignature, type KernelName, type ParsedParam } from "./kernel-specs.ts";

/** Named kernel arguments; booleans are accepted for 0/1 flags such as transA. */
export type KernelInputs = Record<string, Float32Array | Int32Array | number | boolean | null | undefined>;

const parsed = new Map<KernelName, ParsedParam[]>(
  (Object.keys(kernelSpecs) as KernelName[]).map((k) => [k, parseSignature(kernelSpecs[k].signature)]),
);

/** Checks kinds and sizes; returns the positional argument list or throws TypeError/RangeError naming the argument. */
export function prepareKernelCall(kernel: KernelName, inputs: KernelInputs): KernelArg[] {
  const params = parsed.get(kernel);
  if (!params) throw new TypeError(`unknown kernel '${String(kernel)}'`);
  for (const key of Object.keys(inputs)) {
    if (!params.some((p) => p.name === key)) {
      throw new TypeError(`${kernel}: unknown argument '${key}' (expects ${kernelSpecs[kernel].signature})`);
    }
  }
  const args: KernelArg[] = [];
  const ints: Record<string, number> = {};
  const nums: Record<string, number> = {};
  const arrays: Record<string, Float32Array | Int32Array | null> = {};
  for (const p of params) {
    let v = inputs[p.name];
    if (typeof v === "boolean") v = v ? 1 : 0;
    switch (p.kind) {
      case "f32?":
        if (v === null || v === undefined) {
          args.push(null);
          arrays[p.name] = null;
          break;
        }
      // falls through
      case "f32":
        if (!(v instanceof Float32Array)) {
          throw new TypeError(`${kernel}: '${p.name}' must be a Float32Array${p.kind === "f32?" ? " or null" : ""}, got ${describe(v)}`);
        }
        args.push(v);
        arrays[p.name] = v;
        break;
      case "i32":
        if (!(v instanceof Int32Array)) throw new TypeError(`${kernel}: '${p.name}' must be an Int32Array, got ${describe(v)}`);
        args.push(v);
        arrays[p.name] = v;
        break;
      case "int":
        if (typeof v !== "number") throw new TypeError(`${kernel}: '${p.name}' must be a number, got ${describe(v)}`);
        if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
          throw new RangeError(`${kernel}: '${p.name}' must be a non-negative 32-bit integer, got ${v}`);
        }
        args.push(v);
        ints[p.name] = v;
        break;
      case "num":
        if (typeof v !== "number") throw new TypeError(`${kernel}: '${p.name}' must be a number, got ${describe(v)}`);
        if (!Number.isFinite(v)) throw new RangeError(`${kernel}: '${p.name}' must be finite, got ${v}`);
        args.push(v);
        nums[p.name] = v;
        break;
    }
  }
  const problem = ruleViolation(kernel, ints, nums, arrays);
  if (problem) throw new RangeError(`${kernel}: ${problem}`);
  return args;
}

/** Validates and runs `kernel` on `backend`; the arrays must not be touched until the promise settles. */
export async function runKernel(backend: Backend, kernel: KernelName, inputs: KernelInputs): Promise<number> {
  return backend.run(kernel, prepareKernelCall(kernel, inputs));
}

/** Validates and runs `kernel` on the calling thread. */
export function runKernelSync(backend: Backend, kernel: KernelName, inputs: KernelInputs): number {
  return backend.runSync(kernel, prepareKernelCall(kernel, inputs));
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

/** Where kernel calls go: run one by one, or recorded into a program. */
export interface KernelSink {
  /** Validates the call and queues it; returns its index in the program's results. */
  add(kernel: KernelName, inputs: KernelInputs): number;
}

/**
 * A list of validated kernel calls run as one job (DeepSpeed-style declarative instructions): a whole training
 * step crosses to the worker thread once instead of once per kernel. Every call is checked when added.
 */
export class KernelProgram implements KernelSink {
  private readonly calls: KernelCall[] = [];

  add(kernel: KernelName, inputs: KernelInputs): number {
    this.calls.push({ kernel, args: prepareKernelCall(kernel, inputs) });
    return this.calls.length - 1;
  }

  get length(): number {
    return this.calls.length;
  }

  /** Runs the calls in order; the arrays they use must not be touched until it settles. */
  run(backend: Backend): Promise<Float64Array> {
    return backend.runProgram(this.calls);
  }
}
