// The CUDA backend: the same kernel registry (names, signatures, size checks) on one NVIDIA GPU, cuBLAS GEMMs and
// CUDA kernels, device memory behind the arrays from alloc() (see Backend.memory). One device and one precision
// per process. docs/gpu.md says how to build it and what has run on a GPU.
import type { Backend, KernelArg, KernelCall } from "./backend.ts";
import { loadCudaAddon, type CudaAddon, type CudaProbe } from "./cuda-addon.ts";
import { CudaError, CudaUnavailableError } from "./errors.ts";
import type { KernelName } from "./kernel-specs.ts";

/**
 * "fp32": every GEMM in full fp32 (no TF32): for exact comparison with the CPU.
 * "bf16": GEMMs on tensor cores with bf16 inputs and fp32 accumulation; weights, optimizer state, activations
 * and every other kernel stay fp32 (so the fp32 tensors are the master copies).
 */
export type CudaPrecision = "fp32" | "bf16";

export interface CudaBackendOptions {
  device?: number;
  precision?: CudaPrecision;
}

/** Whether a CUDA backend can be created here, and if not, why (for tests that skip with a reason). */
export function cudaStatus(): { available: true; probe: CudaProbe } | { available: false; reason: string } {
  let addon: CudaAddon;
  try {
    addon = loadCudaAddon();
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  }
  const probe = addon.probe();
  if (probe.reason || probe.devices === 0) return { available: false, reason: probe.reason ?? "no CUDA device" };
  return { available: true, probe };
}

function wrap<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    if (e instanceof Error && (e.name === "TypeError" || e.name === "RangeError")) throw e;
    throw new CudaError((e as Error).message, { cause: e });
  });
}

/** Configures the device (once per process) and returns the backend; CudaUnavailableError when it cannot run. */
export function createCudaBackend(
  options: CudaBackendOptions = {},
): Backend & { readonly precision: CudaPrecision; stats: CudaAddon["stats"] } {
  const status = cudaStatus();
  if (!status.available) throw new CudaUnavailableError(status.reason);
  const addon = loadCudaAddon();
  const precision = options.precision ?? "fp32";
  try {
    addon.configure(options.device ?? 0, precision);
  } catch (e) {
    throw new CudaUnavailableError((e as Error).message, { cause: e });
  }
  return {
    name: `cuda-${precision}`,
    memory: "device",
    precision,
    run: (kernel: KernelName, args: KernelArg[]) => wrap(addon.run(kernel, ...args)),
    runSync: (kernel: KernelName, args: KernelArg[]) => addon.runSync(kernel, ...args),
    runProgram: (calls: readonly KernelCall[]) => wrap(addon.runProgram(calls.map((c) => [c.kernel, ...c.args]))),
    alloc: (n: number) => addon.alloc(n),
    download: (arrays: readonly Float32Array[]) => wrap(addon.download(arrays)),
    upload: (arrays: readonly Float32Array[]) => wrap(addon.upload(arrays)),
    stats: () => addon.stats(),
  };
}
