// Softmax cross-entropy (separate reductions for vocabulary shards, and a fused single-shard form), AdamW, norms.
#include <cmath>

#include "fast_math.h"
#include "kernels.h"

namespace troupe {

void CeRowMax(const float* logits, float* rowMax, int rows, int cols) {
  for (int r = 0; r < rows; r++) {
    const float* l = logits + static_cast<size_t>(r) * cols;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < cols; j++) mx = std::max(mx, l[j]);
    rowMax[r] = mx;
  }
}

void CeRowSumExp(const float* logits, const float* rowMax, float* sumExp, int rows, int cols) {
  for (int r = 0; r < rows; r++) {
    const float* l = logits + static_cast<size_t>(r) * cols;
    float m = rowMax[r], s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < cols; j++) s += FastExp(l[j] - m);
    sumExp[r] = s;
  }
}

void CeTargetLogit(const float* logits, const int32_t* targets, float* out, int rows, int cols, int vocabStart) {
  for (int r = 0; r < rows; r++) {
    int local = targets[r] - vocabStart;
    out[r] = (local >= 0 && local < cols) ? logits[static_cast<size_t>(r) * cols + local] : 0.0f;
  }
}

void CeBackward(const float* logits, const float* rowMax, const float* sumExp, const int32_t* targets, float* dlogits,
                int rows, int cols, int vocabStart, float scale) {
  for (int r = 0; r < rows; r++) {
    const float* l = logits + static_cast<size_t>(r) * cols;
    float* g = dlogits + static_cast<size_t>(r) * cols;
    float m = rowMax[r], k = scale / sumExp[r];
    for (int j = 0; j < cols; j++) g[j] = FastExp(l[j] - m) * k;
    int local = targets[r] - vocabStart;
    if (local >= 0 && local < cols) g[local] -= scale;
  }
}

double CrossEntropyFused(float* logits, const int32_t* targets, float* losses, int rows, int cols, float scale) {
  double total = 0.0;
  for (int r = 0; r < rows; r++) {
    float* l = logits + static_cast<size_t>(r) * cols;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < cols; j++) mx = std::max(mx, l[j]);
    float target = l[targets[r]];
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < cols; j++) {
      float e = FastExp(l[j] - mx);
      l[j] = e;
      sum += e;
    }
    float loss = std::log(sum) + mx - target;
    losses[r] = loss;
    total += loss;
    float k = scale / sum;
    for (int j = 0; j < cols; j++) l[j] *= k;
    l[targets[r]] -= scale;
  }
  return total;
}

void AdamW(float* param, const float* grad, float* expAvg, float* expAvgSq, size_t n, float lr, float beta1,
           float beta2, float eps, float weightDecay, float gradScale, int step) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), step);
  const float stepSize = static_cast<float>(lr / bc1);
  const float invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - lr * weightDecay;
  for (size_t i = 0; i < n; i++) {
    float g = grad[i] * gradScale;
    float m = beta1 * expAvg[i] + (1.0f - beta1) * g;
    float v = beta2 * expAvgSq[i] + (1.0f - beta2) * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = param[i] * decay - stepSize * m / (std::sqrt(v) * invSqrtBc2 + eps);
  }
}

double SumSquares(const float* x, size_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

namespace {
inline uint32_t Fmix32(uint32_t h) {  // MurmurHash3's finalizer: a good 32-bit mixer
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}
}  // namespace

void InitNormal(float* x, size_t n, float std, uint32_t key) {
  constexpr double kTwoPi = 6.283185307179586;
  for (size_t i = 0; i < n; i += 2) {
    uint32_t pair = static_cast<uint32_t>(i / 2);
    uint32_t a = Fmix32(key ^ Fmix32(2 * pair)), b = Fmix32(key ^ Fmix32(2 * pair + 1));
    double u1 = (static_cast<double>(a) + 1.0) / 4294967296.0, u2 = static_cast<double>(b) / 4294967296.0;
    double r = std * std::sqrt(-2.0 * std::log(u1));
    x[i] = static_cast<float>(r * std::cos(kTwoPi * u2));
    if (i + 1 < n) x[i + 1] = static_cast<float>(r * std::sin(kTwoPi * u2));
  }
}

void Fill(float* x, size_t n, float value) {
  for (size_t i = 0; i < n; i++) x[i] = value;
}

}  // namespace troupe
