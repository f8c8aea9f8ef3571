// Row-major GEMMs on the device through cuBLAS (column-major underneath: C = A·B is computed as Cᵀ = Bᵀ·Aᵀ),
// with the CPU Gemm's arguments (native/src/kernels.h), in the context's precision.
#pragma once
#include "context.h"

namespace troupe::cuda {

void Gemm(Context& ctx, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc);

// `batch` GEMMs of the same shape; matrix i of A starts at a + i * strideA (likewise B, C).
void GemmBatched(Context& ctx, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
                 long long strideA, const float* b, int ldb, long long strideB, float beta, float* c, int ldc,
                 long long strideC, int batch);

}  // namespace troupe::cuda
