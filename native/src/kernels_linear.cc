// GEMM through OpenBLAS and the fused linear layer (bias and residual folded into the GEMM's C).
#include <cblas.h>

#include <cstring>

#include "kernels.h"

namespace troupe {

void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, m, n, k, alpha, a,
              lda, b, ldb, beta, c, ldc);
}

void LinearForward(const float* x, const float* weight, const float* bias, const float* residual, float* out, int rows,
                   int inF, int outF) {
  float beta = 0.0f;
  if (bias != nullptr || residual != nullptr) {
    beta = 1.0f;
    for (int r = 0; r < rows; r++) {
      float* o = out + static_cast<size_t>(r) * outF;
      const float* res = residual ? residual + static_cast<size_t>(r) * outF : nullptr;
      if (res && bias) {
        for (int j = 0; j < outF; j++) o[j] = res[j] + bias[j];
      } else if (res) {
        if (res != o) std::memcpy(o, res, sizeof(float) * outF);
      } else {
        std::memcpy(o, bias, sizeof(float) * outF);
      }
    }
  }
  Gemm(false, true, rows, outF, inF, 1.0f, x, inF, weight, inF, beta, out, outF);
}

void LinearBackward(const float* dout, const float* x, const float* weight, float* dx, float* dweight, float* dbias,
                    int rows, int inF, int outF, bool accumulateDx) {
  if (dx != nullptr) Gemm(false, false, rows, inF, outF, 1.0f, dout, outF, weight, inF, accumulateDx ? 1.0f : 0.0f, dx, inF);
  Gemm(true, false, outF, inF, rows, 1.0f, dout, outF, x, inF, 1.0f, dweight, inF);
  if (dbias != nullptr) {
    for (int r = 0; r < rows; r++) {
      const float* d = dout + static_cast<size_t>(r) * outF;
      for (int j = 0; j < outF; j++) dbias[j] += d[j];
    }
  }
}

}  // namespace troupe
