// fp32 CPU kernels on raw row-major buffers. Callers (the registry) have validated every size.
#pragma once
#include <cstddef>
#include <cstdint>

namespace troupe {

// C = alpha * op(A) * op(B) + beta * C with explicit leading dimensions (row-major).
void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc);

// out[rows, outF] = residual + bias + x[rows, inF] · weight[outF, inF]ᵀ  (residual, bias may be null).
void LinearForward(const float* x, const float* weight, const float* bias, const float* residual, float* out, int rows,
                   int inF, int outF);
// dx (= or +=) dout · weight; dweight += doutᵀ · x; dbias += column sums of dout (dx, dbias may be null).
void LinearBackward(const float* dout, const float* x, const float* weight, float* dx, float* dweight, float* dbias,
                    int rows, int inF, int outF, bool accumulateDx);

void EmbeddingForward(const int32_t* tokens, const float* wte, const float* wpe, float* out, int batch, int seq,
                      int dModel, int vocabStart, int vocabSize);
void EmbeddingBackward(const int32_t* tokens, const float* dout, float* dwte, float* dwpe, int batch, int seq,
                       int dModel, int vocabStart, int vocabSize);

constexpr float kLayerNormEps = 1e-5f;
void LayerNormForward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                      int rows, int cols);
void LayerNormBackward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                       float* dx, float* dgamma, float* dbeta, int rows, int cols, bool accumulateDx);

void GeluForward(const float* x, float* out, size_t n);
void GeluBackward(const float* x, const float* dout, float* dx, size_t n);

// qkv: [batch, seq, 3 * heads * headDim] (q | k | v, heads inside each); out: [batch, seq, heads * headDim];
// probs: [batch, heads, seq, seq] saved softmax (upper triangle zero).
void AttentionForward(const float* qkv, float* out, float* probs, int batch, int seq, int heads, int headDim);
void AttentionBackward(const float* qkv, const float* probs, const float* dout, float* dqkv, int batch, int seq,
                       int heads, int headDim);
// One new token per sequence at position `pos`: stores its k, v in the caches [batch, maxLen, heads*headDim].
void AttentionDecode(const float* qkv, float* kCache, float* vCache, float* out, int batch, int heads, int headDim,
                     int maxLen, int pos);

// Cross-entropy as separate row reductions over a (possibly vocabulary-sharded) logits block [rows, cols].
void CeRowMax(const float* logits, float* rowMax, int rows, int cols);
void CeRowSumExp(const float* logits, const float* rowMax, float* sumExp, int rows, int cols);
// Target logit if the target lies in [vocabStart, vocabStart + cols), else 0 (so shards can sum).
void CeTargetLogit(const float* logits, const int32_t* targets, float* out, int rows, int cols, int vocabStart);
// dlogits = scale * (softmax - onehot(target)); dlogits may alias logits.
void CeBackward(const float* logits, const float* rowMax, const float* sumExp, const int32_t* targets, float* dlogits,
                int rows, int cols, int vocabStart, float scale);
// Whole vocabulary in one block: losses[r] = -log softmax(logits[r])[target]; logits become scale * dlogits.
// Returns the sum of the row losses (double).
double CrossEntropyFused(float* logits, const int32_t* targets, float* losses, int rows, int cols, float scale);

void AdamW(float* param, const float* grad, float* expAvg, float* expAvgSq, size_t n, float lr, float beta1,
           float beta2, float eps, float weightDecay, float gradScale, int step);
double SumSquares(const float* x, size_t n);
void Fill(float* x, size_t n, float value);
// x[i] ~ N(0, std²) from a counter-based generator keyed by `key`: x depends only on (key, i), not on n.
void InitNormal(float* x, size_t n, float std, uint32_t key);

}  // namespace troupe
