// Cross-entropy (the vocabulary-parallel pieces and the fused single-shard form), AdamW, fixed-order double sums,
// and the counter-based normal initialiser (the CPU's generator, so initial weights match the CPU's).
#include <cfloat>
#include <cmath>

#include "cuda_check.h"
#include "device_kernels.h"
#include "launch.cuh"

namespace troupe::cuda {

namespace {

constexpr int kSumBlocks = 256;  // fixed: the order of a sum must not depend on the GPU's size

// One block per row for the row reductions.
__global__ void CeRowMaxKernel(const float* logits, float* rowMax, int cols) {
  __shared__ float sh[kThreads];
  const float* l = logits + static_cast<size_t>(blockIdx.x) * cols;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < cols; j += kThreads) mx = fmaxf(mx, l[j]);
  mx = BlockMax(mx, sh);
  if (threadIdx.x == 0) rowMax[blockIdx.x] = mx;
}

__global__ void CeRowSumExpKernel(const float* logits, const float* rowMax, float* sumExp, int cols) {
  __shared__ float sh[kThreads];
  const float* l = logits + static_cast<size_t>(blockIdx.x) * cols;
  float m = rowMax[blockIdx.x], s = 0.0f;
  for (int j = threadIdx.x; j < cols; j += kThreads) s += expf(l[j] - m);
  s = BlockSum(s, sh);
  if (threadIdx.x == 0) sumExp[blockIdx.x] = s;
}

__global__ void CeTargetLogitKernel(const float* logits, const int32_t* targets, float* out, int rows, int cols,
                                    int vocabStart) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  int local = targets[r] - vocabStart;
  out[r] = (local >= 0 && local < cols) ? logits[static_cast<size_t>(r) * cols + local] : 0.0f;
}

__global__ void CeBackwardKernel(const float* logits, const float* rowMax, const float* sumExp, const int32_t* targets,
                                 float* dlogits, int cols, int vocabStart, float scale) {
  size_t base = static_cast<size_t>(blockIdx.x) * cols;
  float m = rowMax[blockIdx.x], k = scale / sumExp[blockIdx.x];
  int local = targets[blockIdx.x] - vocabStart;
  for (int j = threadIdx.x; j < cols; j += kThreads) {
    float g = expf(logits[base + j] - m) * k;
    dlogits[base + j] = j == local ? g - scale : g;
  }
}

__global__ void CrossEntropyFusedKernel(float* logits, const int32_t* targets, float* losses, int cols, float scale) {
  __shared__ float sh[kThreads];
  float* l = logits + static_cast<size_t>(blockIdx.x) * cols;
  int t = targets[blockIdx.x];
  float target = l[t];  // read before any thread overwrites the row (the reductions below synchronise)
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < cols; j += kThreads) mx = fmaxf(mx, l[j]);
  mx = BlockMax(mx, sh);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < cols; j += kThreads) sum += expf(l[j] - mx);
  sum = BlockSum(sum, sh);
  if (threadIdx.x == 0) losses[blockIdx.x] = logf(sum) + mx - target;
  float k = scale / sum;
  for (int j = threadIdx.x; j < cols; j += kThreads) {
    float g = expf(l[j] - mx) * k;
    l[j] = j == t ? g - scale : g;
  }
}

__global__ void AdamWKernel(float* param, const float* grad, float* expAvg, float* expAvgSq, size_t n, float beta1,
                            float beta2, float eps, float gradScale, float stepSize, float invSqrtBc2, float decay) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    float g = grad[i] * gradScale;
    float m = beta1 * expAvg[i] + (1.0f - beta1) * g;
    float v = beta2 * expAvgSq[i] + (1.0f - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = param[i] * decay - stepSize * m / (sqrtf(v) * invSqrtBc2 + eps);
  }
}

// Stage 1: block b sums elements b*kThreads + tid + k*(kSumBlocks*kThreads), k = 0, 1, …; stage 2 sums the blocks.
__global__ void SumPartialKernel(const float* x, size_t n, bool squares, double* partial) {
  __shared__ double sh[kThreads];
  double acc = 0.0;
  for (size_t i = blockIdx.x * size_t{kThreads} + threadIdx.x; i < n; i += size_t{kSumBlocks} * kThreads) {
    double v = x[i];
    acc += squares ? v * v : v;
  }
  acc = BlockSum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void SumFinishKernel(const double* partial, double* result) {
  __shared__ double sh[kThreads];
  double acc = threadIdx.x < kSumBlocks ? partial[threadIdx.x] : 0.0;
  acc = BlockSum(acc, sh);
  if (threadIdx.x == 0) *result = acc;
}

__device__ inline uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

__global__ void InitNormalKernel(float* x, size_t n, float std, uint32_t key) {
  constexpr double kTwoPi = 6.283185307179586;
  size_t pairs = (n + 1) / 2;
  for (size_t p = blockIdx.x * size_t{blockDim.x} + threadIdx.x; p < pairs; p += size_t{gridDim.x} * blockDim.x) {
    uint32_t pair = static_cast<uint32_t>(p);
    uint32_t a = Fmix32(key ^ Fmix32(2 * pair)), b = Fmix32(key ^ Fmix32(2 * pair + 1));
    double u1 = (static_cast<double>(a) + 1.0) / 4294967296.0, u2 = static_cast<double>(b) / 4294967296.0;
    double r = std * sqrt(-2.0 * log(u1));
    x[2 * p] = static_cast<float>(r * cos(kTwoPi * u2));
    if (2 * p + 1 < n) x[2 * p + 1] = static_cast<float>(r * sin(kTwoPi * u2));
  }
}

}  // namespace

static_assert(kSumBlocks <= kThreads, "SumFinishKernel reduces one partial per thread");

void LaunchCeRowMax(const float* logits, float* rowMax, int rows, int cols, cudaStream_t s) {
  if (rows == 0) return;
  CeRowMaxKernel<<<rows, kThreads, 0, s>>>(logits, rowMax, cols);
  TROUPE_LAUNCHED("ceRowMax");
}

void LaunchCeRowSumExp(const float* logits, const float* rowMax, float* sumExp, int rows, int cols, cudaStream_t s) {
  if (rows == 0) return;
  CeRowSumExpKernel<<<rows, kThreads, 0, s>>>(logits, rowMax, sumExp, cols);
  TROUPE_LAUNCHED("ceRowSumExp");
}

void LaunchCeTargetLogit(const float* logits, const int32_t* targets, float* out, int rows, int cols, int vocabStart,
                         cudaStream_t s) {
  if (rows == 0) return;
  CeTargetLogitKernel<<<(rows + kThreads - 1) / kThreads, kThreads, 0, s>>>(logits, targets, out, rows, cols, vocabStart);
  TROUPE_LAUNCHED("ceTargetLogit");
}

void LaunchCeBackward(const float* logits, const float* rowMax, const float* sumExp, const int32_t* targets,
                      float* dlogits, int rows, int cols, int vocabStart, float scale, cudaStream_t s) {
  if (rows == 0) return;
  CeBackwardKernel<<<rows, kThreads, 0, s>>>(logits, rowMax, sumExp, targets, dlogits, cols, vocabStart, scale);
  TROUPE_LAUNCHED("ceBackward");
}

void LaunchCrossEntropyFused(float* logits, const int32_t* targets, float* losses, int rows, int cols, float scale,
                             cudaStream_t s) {
  if (rows == 0) return;
  CrossEntropyFusedKernel<<<rows, kThreads, 0, s>>>(logits, targets, losses, cols, scale);
  TROUPE_LAUNCHED("crossEntropyFused");
}

void LaunchAdamW(float* param, const float* grad, float* expAvg, float* expAvgSq, size_t n, float lr, float beta1,
                 float beta2, float eps, float weightDecay, float gradScale, int step, cudaStream_t s) {
  if (n == 0) return;
  // The scalar factors exactly as the CPU kernel computes them (double, then rounded to float).
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), step);
  const float stepSize = static_cast<float>(lr / bc1);
  const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - lr * weightDecay;
  AdamWKernel<<<GridFor(n), kThreads, 0, s>>>(param, grad, expAvg, expAvgSq, n, beta1, beta2, eps, gradScale, stepSize,
                                              invSqrtBc2, decay);
  TROUPE_LAUNCHED("adamw");
}

size_t SumScratch() { return kSumBlocks; }

void LaunchSum(const float* x, size_t n, bool squares, double* result, double* scratch, cudaStream_t s) {
  SumPartialKernel<<<kSumBlocks, kThreads, 0, s>>>(x, n, squares, scratch);
  SumFinishKernel<<<1, kThreads, 0, s>>>(scratch, result);
  TROUPE_LAUNCHED("sum");
}

void LaunchInitNormal(float* x, size_t n, float std, uint32_t key, cudaStream_t s) {
  if (n == 0) return;
  InitNormalKernel<<<GridFor((n + 1) / 2), kThreads, 0, s>>>(x, n, std, key);
  TROUPE_LAUNCHED("initNormal");
}

}  // namespace troupe::cuda
