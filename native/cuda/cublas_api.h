// The few cuBLAS functions the CUDA backend calls, declared here and resolved at run time with dlopen, so that the
// addon builds where only nvcc and the CUDA runtime headers exist (no cuBLAS headers or libraries needed).
// Types and values follow cublas_api.h (CUDA 12/13).
#pragma once
#include <cuda_runtime.h>
#include <library_types.h>

#include <string>

namespace troupe::cuda {

using cublasHandle_t = struct cublasContext*;
using cublasStatus_t = int;  // CUBLAS_STATUS_SUCCESS = 0
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasComputeType_t {
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
  CUBLAS_COMPUTE_32F_FAST_16BF = 75,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
};
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2 };
constexpr int CUBLAS_GEMM_DEFAULT = -1;

struct CublasApi {
  cublasStatus_t (*Create)(cublasHandle_t*);
  cublasStatus_t (*Destroy)(cublasHandle_t);
  cublasStatus_t (*SetStream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*SetWorkspace)(cublasHandle_t, void*, size_t);
  cublasStatus_t (*SetMathMode)(cublasHandle_t, cublasMath_t);
  cublasStatus_t (*GetVersion)(cublasHandle_t, int*);
  cublasStatus_t (*GemmEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                           const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                           cudaDataType, int, cublasComputeType_t, int);
  cublasStatus_t (*GemmStridedBatchedEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void*, const void*, cudaDataType, int, long long, const void*,
                                         cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                         long long, int, cublasComputeType_t, int);
  const char* (*GetStatusString)(cublasStatus_t);  // may be null on old versions
  std::string path;                                 // the library that was loaded
};

// Loads libcublas once (TROUPE_CUBLAS_LIB if set, else the usual sonames on the loader's search path);
// throws CudaFailure naming what was tried.
const CublasApi& Cublas();

// Throws CudaFailure when `status` is not success.
void CheckBlas(cublasStatus_t status, const char* what);

}  // namespace troupe::cuda
