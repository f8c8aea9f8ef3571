// The per-process CUDA state: one device, one stream, one cuBLAS handle with a fixed workspace (cuBLAS is
// deterministic per stream only with an explicit workspace), the precision of the GEMMs, and a scratch arena for
// the duration of one program. Device work is serialised by `mu`: one program at a time, in call order.
#pragma once
#include <cuda_runtime.h>

#include <mutex>
#include <string>
#include <vector>

#include "cublas_api.h"

namespace troupe::cuda {

enum class Precision { Fp32, Bf16 };

class Context {
 public:
  // The configured context; throws CudaFailure when configure() has not run.
  static Context& Get();
  // Creates the context on `device` (once per process; a second call must name the same settings).
  static Context& Configure(int device, Precision precision);

  int device = 0;
  Precision precision = Precision::Fp32;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F_PEDANTIC;
  std::mutex mu;

  // Makes this thread use the device (the current device is per host thread).
  void Enter() const;
  // Device memory valid until ResetScratch() (called when a program has finished on the device).
  // Work on one stream is ordered, so a call may reuse what the previous call used: reset before each call.
  void* Scratch(size_t bytes);
  void ResetScratch();
  // `n` zeroed device doubles for the results of one program (kept across calls, unlike Scratch).
  double* Results(size_t n);

 private:
  struct Chunk {
    char* base;
    size_t size;
    size_t used;
  };
  std::vector<Chunk> chunks_;
  double* results_ = nullptr;
  size_t resultsCap_ = 0;
};

}  // namespace troupe::cuda
