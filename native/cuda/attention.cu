// The non-GEMM parts of causal attention: the row softmax (forward and backward) between the cuBLAS GEMMs, and the
// single-token decode step with its KV cache.
#include <cfloat>

#include "cuda_check.h"
#include "device_kernels.h"
#include "launch.cuh"

namespace troupe::cuda {

namespace {

constexpr int kRowsPerBlock = kThreads / 32;

// One warp per row; row i (= r % seq) keeps columns 0..i, the rest become exact zeros so P·V needs no mask.
__global__ void CausalSoftmaxKernel(float* p, size_t rows, int seq) {
  size_t r = blockIdx.x * size_t{kRowsPerBlock} + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (r >= rows) return;
  int last = static_cast<int>(r % seq);
  float* row = p + r * seq;
  float mx = -FLT_MAX;
  for (int j = lane; j <= last; j += 32) mx = fmaxf(mx, row[j]);
  mx = WarpMax(mx);
  float sum = 0.0f;
  for (int j = lane; j <= last; j += 32) {
    float e = expf(row[j] - mx);
    row[j] = e;
    sum += e;
  }
  float inv = 1.0f / WarpSum(sum);
  for (int j = lane; j < seq; j += 32) row[j] = j <= last ? row[j] * inv : 0.0f;
}

__global__ void CausalSoftmaxBackwardKernel(const float* p, float* ds, size_t rows, int seq) {
  size_t r = blockIdx.x * size_t{kRowsPerBlock} + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (r >= rows) return;
  int last = static_cast<int>(r % seq);
  const float* pr = p + r * seq;
  float* dr = ds + r * seq;
  float dot = 0.0f;
  for (int j = lane; j <= last; j += 32) dot += pr[j] * dr[j];
  dot = WarpSum(dot);
  for (int j = lane; j < seq; j += 32) dr[j] = j <= last ? pr[j] * (dr[j] - dot) : 0.0f;
}

__global__ void DecodeStoreKernel(const float* qkv, float* kCache, float* vCache, int d, int maxLen, int pos) {
  int b = blockIdx.x;
  const float* row = qkv + static_cast<size_t>(b) * 3 * d;
  size_t at = (static_cast<size_t>(b) * maxLen + pos) * d;
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    kCache[at + j] = row[d + j];
    vCache[at + j] = row[2 * d + j];
  }
}

// One block per (sequence, head): scores for positions 0..pos in shared memory, softmax, weighted sum of values.
__global__ void DecodeAttendKernel(const float* qkv, const float* kCache, const float* vCache, float* out, int heads,
                                   int headDim, int maxLen, int pos, float scale) {
  extern __shared__ float scores[];  // pos + 1 scores, then kThreads for reductions
  float* red = scores + pos + 1;
  int b = blockIdx.x / heads, h = blockIdx.x % heads, d = heads * headDim;
  const float* q = qkv + static_cast<size_t>(b) * 3 * d + h * headDim;
  const float* kc = kCache + static_cast<size_t>(b) * maxLen * d + h * headDim;
  const float* vc = vCache + static_cast<size_t>(b) * maxLen * d + h * headDim;
  float mx = -FLT_MAX;
  for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
    const float* k = kc + static_cast<size_t>(t) * d;
    float s = 0.0f;
    for (int e = 0; e < headDim; e++) s += q[e] * k[e];
    scores[t] = s * scale;
    mx = fmaxf(mx, scores[t]);
  }
  mx = BlockMax(mx, red);
  float sum = 0.0f;
  for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
    scores[t] = expf(scores[t] - mx);
    sum += scores[t];
  }
  sum = BlockSum(sum, red);
  float* y = out + static_cast<size_t>(b) * d + h * headDim;
  for (int e = threadIdx.x; e < headDim; e += blockDim.x) {
    float acc = 0.0f;
    for (int t = 0; t <= pos; t++) acc += scores[t] / sum * vc[static_cast<size_t>(t) * d + e];
    y[e] = acc;
  }
}

}  // namespace

void LaunchCausalSoftmax(float* p, size_t rows, int seq, cudaStream_t s) {
  if (rows == 0) return;
  CausalSoftmaxKernel<<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, s>>>(p, rows, seq);
  TROUPE_LAUNCHED("causalSoftmax");
}

void LaunchCausalSoftmaxBackward(const float* p, float* ds, size_t rows, int seq, cudaStream_t s) {
  if (rows == 0) return;
  CausalSoftmaxBackwardKernel<<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), kThreads, 0, s>>>(
      p, ds, rows, seq);
  TROUPE_LAUNCHED("causalSoftmaxBackward");
}

void LaunchAttentionDecode(const float* qkv, float* kCache, float* vCache, float* out, int batch, int heads,
                           int headDim, int maxLen, int pos, cudaStream_t s) {
  int d = heads * headDim;
  DecodeStoreKernel<<<batch, kThreads, 0, s>>>(qkv, kCache, vCache, d, maxLen, pos);
  TROUPE_LAUNCHED("attentionDecode(store)");
  size_t shared = (static_cast<size_t>(pos) + 1 + kThreads) * sizeof(float);
  if (shared > 48 * 1024) throw CudaFailure("attentionDecode: pos " + std::to_string(pos) + " exceeds the decode kernel's shared memory (12,000 positions)");
  DecodeAttendKernel<<<batch * heads, kThreads, shared, s>>>(qkv, kCache, vCache, out, heads, headDim, maxLen, pos,
                                                             1.0f / sqrtf(static_cast<float>(headDim)));
  TROUPE_LAUNCHED("attentionDecode");
}

}  // namespace troupe::cuda
