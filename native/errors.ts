// Errors of the native layer's GPU backend.

/** The CUDA backend cannot run here: no addon built, no device, or cuBLAS/NCCL missing. `reason` says which. */
export class CudaUnavailableError extends Error {
  override name = "CudaUnavailableError";
}

/** A CUDA, cuBLAS or NCCL call failed while a kernel program or transfer ran. */
export class CudaError extends Error {
  override name = "CudaError";
}
