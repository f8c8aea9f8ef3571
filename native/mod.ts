// Public face of the native addon: zero-copy memory, BLAS threads, and the compute kernels.
import { addon } from "./addon.ts";

/**
 * Maps a whole file read-only into memory (mmap) and returns a view of it; no bytes are copied.
 * The mapping is released when the returned array is garbage-collected.
 * Throws an Error naming the path when the file is missing, not a regular file, or empty.
 */
export function mapFile(path: string): Uint8Array {
  return addon.mapFile(path);
}

/** `n` zero-filled floats in 64-byte-aligned native memory, freed when the array is garbage-collected. */
export function alloc(n: number): Float32Array {
  return addon.alloc(n);
}

/** Number of OpenBLAS threads for this process (default 1: one thread per worker process). */
export function setBlasThreads(n: number): void {
  addon.setBlasThreads(n);
}

export function getBlasThreads(): number {
  return addon.getBlasThreads();
}

/** OpenBLAS build description, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64". */
export function blasConfig(): string {
  return addon.blasConfig();
}

export type { Backend, KernelArg, KernelCall } from "./backend.ts";
export { kernelSpecs, type KernelName } from "./kernel-specs.ts";
export { nativeBackend } from "./native-backend.ts";
export { createCudaBackend, cudaStatus, type CudaBackendOptions, type CudaPrecision } from "./cuda-backend.ts";
export { CudaError, CudaUnavailableError } from "./errors.ts";
export { referenceBackend, referenceKernels } from "./reference/mod.ts";
export { KernelProgram, prepareKernelCall, runKernel, runKernelSync, type KernelInputs, type KernelSink } from "./ops.ts";
