// Loads the CUDA addon (build-cuda/troupe_cuda.node, built by scripts/gpu-build.sh; TROUPE_CUDA_ADDON overrides
// the path) and types its raw surface. It loads on machines without a GPU too: probe() then says why it cannot run.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { KernelArg } from "./backend.ts";
import { CudaUnavailableError } from "./errors.ts";

/** What probe() finds: devices, the first one's properties, and why the backend cannot run (if it cannot). */
export interface CudaProbe {
  devices: number;
  runtimeVersion: number;
  name?: string;
  computeCapability?: string;
  memoryBytes?: number;
  multiprocessors?: number;
  /** the cuBLAS library found */
  cublas?: string;
  reason?: string;
}

/** An NCCL communicator (opaque). */
export type NcclComm = { readonly __brand: "NcclComm" };

export interface CudaAddon {
  version: string;
  probe(): CudaProbe;
  configure(device: number, precision: "fp32" | "bf16"): void;
  alloc(n: number): Float32Array;
  isDeviceArray(a: ArrayBufferView): boolean;
  upload(arrays: readonly Float32Array[]): Promise<void>;
  download(arrays: readonly Float32Array[]): Promise<void>;
  /** Bytes copied since the process started: staged (arrays not from alloc) and explicit transfers. */
  stats(): { stagedIn: number; stagedOut: number; uploaded: number; downloaded: number };
  kernelSignatures(): Record<string, string>;
  checkCall(name: string, ...args: KernelArg[]): void;
  runSync(name: string, ...args: KernelArg[]): number;
  run(name: string, ...args: KernelArg[]): Promise<number>;
  runProgram(calls: (string | KernelArg)[][]): Promise<Float64Array>;
  ncclVersion(): number;
  ncclUniqueId(): Uint8Array;
  ncclInit(id: Uint8Array, size: number, rank: number): Promise<NcclComm>;
  /** op: 0 sum, 1 max, 2 min */
  ncclAllReduce(comm: NcclComm, data: Float32Array, op: number): Promise<void>;
  ncclReduceScatter(comm: NcclComm, data: Float32Array, op: number, out: Float32Array): Promise<void>;
  ncclAllGather(comm: NcclComm, chunk: Float32Array, lengths: readonly number[], out: Float32Array): Promise<void>;
  ncclBroadcast(comm: NcclComm, data: Float32Array, root: number): Promise<void>;
  ncclAbort(comm: NcclComm): void;
  ncclDestroy(comm: NcclComm): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function cudaAddonPath(): string {
  return process.env.TROUPE_CUDA_ADDON ?? path.join(root, "build-cuda", "troupe_cuda.node");
}

let cached: CudaAddon | undefined;

/** The CUDA addon, loaded on first use; CudaUnavailableError when it is not built (or does not load). */
export function loadCudaAddon(): CudaAddon {
  if (cached) return cached;
  const file = cudaAddonPath();
  if (!existsSync(file))
    throw new CudaUnavailableError(`the CUDA addon is not built (${file}; run scripts/gpu-build.sh where nvcc is installed)`);
  try {
    cached = createRequire(import.meta.url)(file) as CudaAddon;
  } catch (cause) {
    throw new CudaUnavailableError(`cannot load the CUDA addon ${file}: ${(cause as Error).message}`, { cause });
  }
  return cached;
}
