// Causal multi-head attention: per (sequence, head) two SGEMMs on strided views of qkv and a fused causal softmax.
#include <cmath>
#include <vector>

#include "fast_math.h"
#include "kernels.h"

namespace troupe {

namespace {

// Row i keeps columns 0..i; the rest are exact zeros so P·V and the backward need no mask.
void CausalSoftmaxRows(float* s, int seq) {
  for (int i = 0; i < seq; i++) {
    float* row = s + static_cast<size_t>(i) * seq;
    float mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j <= i; j++) mx = std::max(mx, row[j]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= i; j++) {
      float e = FastExp(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j <= i; j++) row[j] *= inv;
    for (int j = i + 1; j < seq; j++) row[j] = 0.0f;
  }
}

}  // namespace

void AttentionForward(const float* qkv, float* out, float* probs, int batch, int seq, int heads, int headDim) {
  const int d = heads * headDim;
  const int ld = 3 * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  for (int b = 0; b < batch; b++) {
    const float* base = qkv + static_cast<size_t>(b) * seq * ld;
    for (int h = 0; h < heads; h++) {
      const float* q = base + h * headDim;
      const float* k = q + d;
      const float* v = q + 2 * d;
      float* p = probs + (static_cast<size_t>(b) * heads + h) * seq * seq;
      float* y = out + static_cast<size_t>(b) * seq * d + h * headDim;
      Gemm(false, true, seq, seq, headDim, scale, q, ld, k, ld, 0.0f, p, seq);
      CausalSoftmaxRows(p, seq);
      Gemm(false, false, seq, headDim, seq, 1.0f, p, seq, v, ld, 0.0f, y, d);
    }
  }
}

void AttentionBackward(const float* qkv, const float* probs, const float* dout, float* dqkv, int batch, int seq,
                       int heads, int headDim) {
  const int d = heads * headDim;
  const int ld = 3 * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  std::vector<float> ds(static_cast<size_t>(seq) * seq);
  for (int b = 0; b < batch; b++) {
    const float* base = qkv + static_cast<size_t>(b) * seq * ld;
    float* dbase = dqkv + static_cast<size_t>(b) * seq * ld;
    for (int h = 0; h < heads; h++) {
      const float* q = base + h * headDim;
      const float* k = q + d;
      const float* v = q + 2 * d;
      float* dq = dbase + h * headDim;
      float* dk = dq + d;
      float* dv = dq + 2 * d;
      const float* p = probs + (static_cast<size_t>(b) * heads + h) * seq * seq;
      const float* dy = dout + static_cast<size_t>(b) * seq * d + h * headDim;
      // dP = dY · Vᵀ, dV = Pᵀ · dY
      Gemm(false, true, seq, seq, headDim, 1.0f, dy, d, v, ld, 0.0f, ds.data(), seq);
      Gemm(true, false, seq, headDim, seq, 1.0f, p, seq, dy, d, 0.0f, dv, ld);
      // dS = P ⊙ (dP − rowsum(P ⊙ dP)); zero above the diagonal because P is.
      for (int i = 0; i < seq; i++) {
        const float* pr = p + static_cast<size_t>(i) * seq;
        float* dr = ds.data() + static_cast<size_t>(i) * seq;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j <= i; j++) dot += pr[j] * dr[j];
        for (int j = 0; j <= i; j++) dr[j] = pr[j] * (dr[j] - dot);
        for (int j = i + 1; j < seq; j++) dr[j] = 0.0f;
      }
      // dQ = scale · dS · K, dK = scale · dSᵀ · Q
      Gemm(false, false, seq, headDim, seq, scale, ds.data(), seq, k, ld, 0.0f, dq, ld);
      Gemm(true, false, seq, headDim, seq, scale, ds.data(), seq, q, ld, 0.0f, dk, ld);
    }
  }
}

void AttentionDecode(const float* qkv, float* kCache, float* vCache, float* out, int batch, int heads, int headDim,
                     int maxLen, int pos) {
  const int d = heads * headDim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(headDim));
  std::vector<float> scores(pos + 1);
  for (int b = 0; b < batch; b++) {
    const float* row = qkv + static_cast<size_t>(b) * 3 * d;
    float* kc = kCache + static_cast<size_t>(b) * maxLen * d;
    float* vc = vCache + static_cast<size_t>(b) * maxLen * d;
    for (int j = 0; j < d; j++) {
      kc[static_cast<size_t>(pos) * d + j] = row[d + j];
      vc[static_cast<size_t>(pos) * d + j] = row[2 * d + j];
    }
    for (int h = 0; h < heads; h++) {
      const float* q = row + h * headDim;
      float mx = -INFINITY;
      for (int t = 0; t <= pos; t++) {
        const float* k = kc + static_cast<size_t>(t) * d + h * headDim;
        float s = 0.0f;
        for (int e = 0; e < headDim; e++) s += q[e] * k[e];
        scores[t] = s * scale;
        mx = std::max(mx, scores[t]);
      }
      float sum = 0.0f;
      for (int t = 0; t <= pos; t++) {
        scores[t] = FastExp(scores[t] - mx);
        sum += scores[t];
      }
      float* y = out + static_cast<size_t>(b) * d + h * headDim;
      for (int e = 0; e < headDim; e++) y[e] = 0.0f;
      for (int t = 0; t <= pos; t++) {
        const float* v = vc + static_cast<size_t>(t) * d + h * headDim;
        float w = scores[t] / sum;
        for (int e = 0; e < headDim; e++) y[e] += w * v[e];
      }
    }
  }
}

}  // namespace troupe
