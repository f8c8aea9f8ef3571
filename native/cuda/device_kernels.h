// Launchers of the CUDA kernels (defined in the .cu files), in the CPU kernels' terms (native/src/kernels.h):
// row-major fp32 buffers, sizes already validated. Every launcher enqueues on `s` and returns at once.
// No kernel uses floating-point atomics: each sum runs in a fixed order, so results are the same on every run.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace troupe::cuda {

// pointwise.cu
void LaunchFill(float* x, size_t n, float value, cudaStream_t s);
// c[r, j] *= beta for r < rows, j < cols (row stride ld); beta == 0 writes zeros (as BLAS does).
void LaunchScaleMatrix(float* c, int rows, int cols, int ld, float beta, cudaStream_t s);
void LaunchGeluForward(const float* x, float* out, size_t n, cudaStream_t s);
void LaunchGeluBackward(const float* x, const float* dout, float* dx, size_t n, cudaStream_t s);
// out[r, j] = (residual ? residual[r, j] : 0) + (bias ? bias[j] : 0); out may alias residual.
void LaunchBiasResidual(const float* bias, const float* residual, float* out, int rows, int cols, cudaStream_t s);
// Scratch floats LaunchColumnSum needs for `rows` × `cols`.
size_t ColumnSumScratch(int rows, int cols);
// sums[j] += Σ_r x[r, j], the rows summed in fixed chunks and the chunks in order.
void LaunchColumnSum(const float* x, float* sums, int rows, int cols, float* scratch, cudaStream_t s);
void LaunchEmbeddingForward(const int32_t* tokens, const float* wte, const float* wpe, float* out, int batch, int seq,
                            int dModel, int vocabStart, int vocabSize, cudaStream_t s);
// dwte[ids[k]] += dout rows rows[rowStart[k] .. rowStart[k+1]), added one by one in that (ascending) order.
void LaunchEmbeddingBackwardWte(const int32_t* ids, const int32_t* rowStart, const int32_t* rows, int distinct,
                                const float* dout, float* dwte, int dModel, cudaStream_t s);
// dwpe[t] += Σ_b dout[b, t], b ascending.
void LaunchEmbeddingBackwardWpe(const float* dout, float* dwpe, int batch, int seq, int dModel, cudaStream_t s);
// out = ((x_0 ∘ x_1) ∘ x_2) … over `parts` contributions of `count` floats: x_r is `own` when r == self, else
// others + r * count; out may be own. op: 0 sum, 1 max, 2 min. The collectives' fixed-order reduction, as on TCP.
void LaunchCombine(float* out, const float* own, const float* others, int parts, int self, size_t count, int op,
                   cudaStream_t s);

// layernorm.cu
void LaunchLayerNormForward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                            int rows, int cols, cudaStream_t s);
size_t LayerNormBackwardScratch(int rows, int cols);
void LaunchLayerNormBackward(const float* dout, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta, int rows, int cols,
                             bool accumulateDx, float* scratch, cudaStream_t s);

// attention.cu: `rows` rows of length `seq`; row r is query position r % seq and keeps columns 0 … r % seq.
void LaunchCausalSoftmax(float* p, size_t rows, int seq, cudaStream_t s);
// ds = p ⊙ (ds − rowsum(p ⊙ ds)) on the causal part, zero above it.
void LaunchCausalSoftmaxBackward(const float* p, float* ds, size_t rows, int seq, cudaStream_t s);
void LaunchAttentionDecode(const float* qkv, float* kCache, float* vCache, float* out, int batch, int heads,
                           int headDim, int maxLen, int pos, cudaStream_t s);

// loss_optim.cu
void LaunchCeRowMax(const float* logits, float* rowMax, int rows, int cols, cudaStream_t s);
void LaunchCeRowSumExp(const float* logits, const float* rowMax, float* sumExp, int rows, int cols, cudaStream_t s);
void LaunchCeTargetLogit(const float* logits, const int32_t* targets, float* out, int rows, int cols, int vocabStart,
                         cudaStream_t s);
void LaunchCeBackward(const float* logits, const float* rowMax, const float* sumExp, const int32_t* targets,
                      float* dlogits, int rows, int cols, int vocabStart, float scale, cudaStream_t s);
// Per-row losses into `losses`; logits become scale * dlogits. The total is a separate LaunchSum.
void LaunchCrossEntropyFused(float* logits, const int32_t* targets, float* losses, int rows, int cols, float scale,
                             cudaStream_t s);
void LaunchAdamW(float* param, const float* grad, float* expAvg, float* expAvgSq, size_t n, float lr, float beta1,
                 float beta2, float eps, float weightDecay, float gradScale, int step, cudaStream_t s);
// Doubles LaunchSum needs as scratch.
size_t SumScratch();
// *result = Σ x[i] (or Σ x[i]² with squares) in double, in a fixed order that does not depend on the GPU.
void LaunchSum(const float* x, size_t n, bool squares, double* result, double* scratch, cudaStream_t s);
void LaunchInitNormal(float* x, size_t n, float std, uint32_t key, cudaStream_t s);

}  // namespace troupe::cuda
