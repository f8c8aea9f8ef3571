// The backends every kernel test runs on: the CPU addon, the TypeScript reference, and the CUDA backend (fp32)
// where this machine has a GPU and the CUDA addon is built; otherwise the reason it is left out.
import type { Backend } from "../../native/backend.ts";
import { createCudaBackend, cudaStatus } from "../../native/cuda-backend.ts";
import { nativeBackend } from "../../native/native-backend.ts";
import { referenceBackend } from "../../native/reference/mod.ts";

const status = cudaStatus();

/** Why the CUDA cases do not run here (undefined when they do). */
export const cudaSkipReason: string | undefined = status.available ? undefined : status.reason;

export const kernelBackends: Backend[] = [
  nativeBackend,
  referenceBackend,
  ...(status.available ? [createCudaBackend({ precision: "fp32" })] : []),
];
