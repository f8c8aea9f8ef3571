// CUDA error checks: a failed runtime call becomes a CudaFailure naming the call, which the addon turns into a
// rejected promise or a thrown Error (never an abort).
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace troupe::cuda {

struct CudaFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CudaFailure(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace troupe::cuda

#define TROUPE_CUDA(call) ::troupe::cuda::Check((call), #call)
// After a kernel launch: launch-configuration errors surface here, not at the next synchronisation.
#define TROUPE_LAUNCHED(name) ::troupe::cuda::Check(cudaGetLastError(), name)
