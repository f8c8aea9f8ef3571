// cuBLAS calls for the row-major GEMMs.
#include "gemm.h"

#include "cuda_check.h"
#include "device_kernels.h"

namespace troupe::cuda {

namespace {
cublasOperation_t Op(bool t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }
}  // namespace

void Gemm(Context& ctx, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C, as BLAS defines it (cuBLAS is not asked to handle an empty inner dimension)
    LaunchScaleMatrix(c, m, n, ldc, beta, ctx.stream);
    return;
  }
  CheckBlas(Cublas().GemmEx(ctx.blas, Op(transB), Op(transA), n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda,
                            &beta, c, CUDA_R_32F, ldc, ctx.compute, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
}

void GemmBatched(Context& ctx, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
                 long long strideA, const float* b, int ldb, long long strideB, float beta, float* c, int ldc,
                 long long strideC, int batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    for (int i = 0; i < batch; i++) LaunchScaleMatrix(c + i * strideC, m, n, ldc, beta, ctx.stream);
    return;
  }
  CheckBlas(Cublas().GemmStridedBatchedEx(ctx.blas, Op(transB), Op(transA), n, m, k, &alpha, b, CUDA_R_32F, ldb,
                                          strideB, a, CUDA_R_32F, lda, strideA, &beta, c, CUDA_R_32F, ldc, strideC,
                                          batch, ctx.compute, CUBLAS_GEMM_DEFAULT),
            "cublasGemmStridedBatchedEx");
}

}  // namespace troupe::cuda
