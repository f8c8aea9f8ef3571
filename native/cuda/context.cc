// Context creation (stream, cuBLAS handle, workspace, math mode) and the scratch arena.
#include "context.h"

#include <algorithm>

#include "cuda_check.h"

namespace troupe::cuda {

namespace {
Context* g_context = nullptr;
std::mutex g_configure;
// 32 MiB: the workspace NVIDIA documents for Hopper; fixed so that cuBLAS picks the same kernels every run.
constexpr size_t kWorkspaceBytes = 32u << 20;
constexpr size_t kMinChunk = 64u << 20;
}  // namespace

Context& Context::Get() {
  if (g_context == nullptr) throw CudaFailure("the CUDA backend is not configured (call configure first)");
  return *g_context;
}

Context& Context::Configure(int device, Precision precision) {
  std::lock_guard<std::mutex> lock(g_configure);
  if (g_context != nullptr) {
    if (g_context->device != device || g_context->precision != precision) {
      throw CudaFailure("the CUDA backend is already configured with other settings (one device and precision per process)");
    }
    return *g_context;
  }
  const CublasApi& api = Cublas();  // fail before touching the device when cuBLAS is missing
  auto* c = new Context();
  c->device = device;
  c->precision = precision;
  TROUPE_CUDA(cudaSetDevice(device));
  TROUPE_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  CheckBlas(api.Create(&c->blas), "cublasCreate");
  CheckBlas(api.SetStream(c->blas, c->stream), "cublasSetStream");
  void* workspace = nullptr;
  TROUPE_CUDA(cudaMalloc(&workspace, kWorkspaceBytes));
  CheckBlas(api.SetWorkspace(c->blas, workspace, kWorkspaceBytes), "cublasSetWorkspace");
  // fp32: no TF32 or other reduced-precision shortcuts (for exact comparison with the CPU);
  // bf16: tensor cores on bf16 inputs with fp32 accumulation; the tensors themselves stay fp32 (master copies).
  CheckBlas(api.SetMathMode(c->blas, precision == Precision::Fp32 ? CUBLAS_PEDANTIC_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  c->compute = precision == Precision::Fp32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F_FAST_16BF;
  g_context = c;
  return *c;
}

void Context::Enter() const { TROUPE_CUDA(cudaSetDevice(device)); }

void* Context::Scratch(size_t bytes) {
  bytes = (bytes + 255) & ~size_t{255};
  for (Chunk& c : chunks_) {
    if (c.size - c.used >= bytes) {
      void* p = c.base + c.used;
      c.used += bytes;
      return p;
    }
  }
  Chunk c{nullptr, std::max(bytes, kMinChunk), bytes};
  TROUPE_CUDA(cudaMalloc(reinterpret_cast<void**>(&c.base), c.size));
  chunks_.push_back(c);
  return c.base;
}

void Context::ResetScratch() {
  for (Chunk& c : chunks_) c.used = 0;
}

double* Context::Results(size_t n) {
  if (n > resultsCap_) {
    if (results_ != nullptr) TROUPE_CUDA(cudaFree(results_));
    results_ = nullptr;
    resultsCap_ = std::max<size_t>(n, 1024);
    TROUPE_CUDA(cudaMalloc(reinterpret_cast<void**>(&results_), resultsCap_ * sizeof(double)));
  }
  TROUPE_CUDA(cudaMemsetAsync(results_, 0, std::max<size_t>(n, 1) * sizeof(double), stream));
  return results_;
}

}  // namespace troupe::cuda
