// Embedding, LayerNorm, GELU: the row-wise and element-wise kernels between the GEMMs.
#include <cmath>

#include "fast_math.h"
#include "kernels.h"

namespace troupe {

void EmbeddingForward(const int32_t* tokens, const float* wte, const float* wpe, float* out, int batch, int seq,
                      int dModel, int vocabStart, int vocabSize) {
  for (int b = 0; b < batch; b++) {
    for (int t = 0; t < seq; t++) {
      size_t row = static_cast<size_t>(b) * seq + t;
      float* o = out + row * dModel;
      int local = tokens[row] - vocabStart;
      bool mine = local >= 0 && local < vocabSize;
      const float* e = mine ? wte + static_cast<size_t>(local) * dModel : nullptr;
      const float* p = wpe ? wpe + static_cast<size_t>(t) * dModel : nullptr;
      for (int j = 0; j < dModel; j++) o[j] = (e ? e[j] : 0.0f) + (p ? p[j] : 0.0f);
    }
  }
}

void EmbeddingBackward(const int32_t* tokens, const float* dout, float* dwte, float* dwpe, int batch, int seq,
                       int dModel, int vocabStart, int vocabSize) {
  for (int b = 0; b < batch; b++) {
    for (int t = 0; t < seq; t++) {
      size_t row = static_cast<size_t>(b) * seq + t;
      const float* d = dout + row * dModel;
      int local = tokens[row] - vocabStart;
      if (local >= 0 && local < vocabSize) {
        float* e = dwte + static_cast<size_t>(local) * dModel;
        for (int j = 0; j < dModel; j++) e[j] += d[j];
      }
      if (dwpe) {
        float* p = dwpe + static_cast<size_t>(t) * dModel;
        for (int j = 0; j < dModel; j++) p[j] += d[j];
      }
    }
  }
}

void LayerNormForward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                      int rows, int cols) {
  for (int r = 0; r < rows; r++) {
    const float* xr = x + static_cast<size_t>(r) * cols;
    float* o = out + static_cast<size_t>(r) * cols;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < cols; j++) sum += xr[j];
    float m = sum / cols;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int j = 0; j < cols; j++) {
      float d = xr[j] - m;
      var += d * d;
    }
    float s = 1.0f / std::sqrt(var / cols + kLayerNormEps);
    for (int j = 0; j < cols; j++) o[j] = (xr[j] - m) * s * gamma[j] + beta[j];
    mean[r] = m;
    rstd[r] = s;
  }
}

void LayerNormBackward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                       float* dx, float* dgamma, float* dbeta, int rows, int cols, bool accumulateDx) {
  for (int r = 0; r < rows; r++) {
    const float* d = dout + static_cast<size_t>(r) * cols;
    const float* xr = x + static_cast<size_t>(r) * cols;
    float* g = dx + static_cast<size_t>(r) * cols;
    float m = mean[r], s = rstd[r];
    float sumD = 0.0f, sumDX = 0.0f;
#pragma omp simd reduction(+ : sumD, sumDX)
    for (int j = 0; j < cols; j++) {
      float xhat = (xr[j] - m) * s;
      float dxhat = d[j] * gamma[j];
      sumD += dxhat;
      sumDX += dxhat * xhat;
      dgamma[j] += d[j] * xhat;
      dbeta[j] += d[j];
    }
    float meanD = sumD / cols, meanDX = sumDX / cols;
    if (accumulateDx) {
      for (int j = 0; j < cols; j++) g[j] += s * (d[j] * gamma[j] - meanD - (xr[j] - m) * s * meanDX);
    } else {
      for (int j = 0; j < cols; j++) g[j] = s * (d[j] * gamma[j] - meanD - (xr[j] - m) * s * meanDX);
    }
  }
}

namespace {
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;
}  // namespace

void GeluForward(const float* x, float* out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = FastTanh(kGeluC * (v + kGeluA * v * v * v));
    out[i] = 0.5f * v * (1.0f + t);
  }
}

void GeluBackward(const float* x, const float* dout, float* dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = FastTanh(kGeluC * (v + kGeluA * v * v * v));
    float dudx = kGeluC * (1.0f + 3.0f * kGeluA * v * v);
    dx[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dudx);
  }
}

}  // namespace troupe
