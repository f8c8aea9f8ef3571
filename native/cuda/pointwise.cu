// Element-wise and embedding kernels, column sums, and the collectives' fixed-order combine.
#include "column_sum.cuh"
#include "cuda_check.h"
#include "device_kernels.h"

namespace troupe::cuda {

namespace {

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

__global__ void FillKernel(float* x, size_t n, float value) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) x[i] = value;
}

__global__ void ScaleMatrixKernel(float* c, int rows, int cols, int ld, float beta) {
  size_t n = static_cast<size_t>(rows) * cols;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    float* p = c + (i / cols) * ld + i % cols;
    *p = beta == 0.0f ? 0.0f : *p * beta;
  }
}

__global__ void GeluForwardKernel(const float* x, float* out, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    float v = x[i];
    float t = tanhf(kGeluC * (v + kGeluA * v * v * v));
    out[i] = 0.5f * v * (1.0f + t);
  }
}

__global__ void GeluBackwardKernel(const float* x, const float* dout, float* dx, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    float v = x[i];
    float t = tanhf(kGeluC * (v + kGeluA * v * v * v));
    float dudx = kGeluC * (1.0f + 3.0f * kGeluA * v * v);
    dx[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * dudx);
  }
}

__global__ void BiasResidualKernel(const float* bias, const float* residual, float* out, int rows, int cols) {
  size_t n = static_cast<size_t>(rows) * cols;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    out[i] = (residual ? residual[i] : 0.0f) + (bias ? bias[i % cols] : 0.0f);
  }
}

struct Identity {
  const float* x;
  int cols;
  __device__ float operator()(int r, int j) const { return x[static_cast<size_t>(r) * cols + j]; }
};

// One block per (batch, position) row.
__global__ void EmbeddingForwardKernel(const int32_t* tokens, const float* wte, const float* wpe, float* out, int seq,
                                       int dModel, int vocabStart, int vocabSize) {
  size_t row = blockIdx.x;
  int t = static_cast<int>(row % seq);
  int local = tokens[row] - vocabStart;
  bool mine = local >= 0 && local < vocabSize;
  for (int j = threadIdx.x; j < dModel; j += blockDim.x) {
    float e = mine ? wte[static_cast<size_t>(local) * dModel + j] : 0.0f;
    float p = wpe ? wpe[static_cast<size_t>(t) * dModel + j] : 0.0f;
    out[row * dModel + j] = e + p;
  }
}

// One block per distinct token: its rows are added in ascending order, as the CPU loop adds them.
__global__ void EmbeddingBackwardWteKernel(const int32_t* ids, const int32_t* rowStart, const int32_t* rows,
                                           const float* dout, float* dwte, int dModel) {
  int k = blockIdx.x;
  float* e = dwte + static_cast<size_t>(ids[k]) * dModel;
  for (int j = threadIdx.x; j < dModel; j += blockDim.x) {
    float acc = e[j];
    for (int i = rowStart[k]; i < rowStart[k + 1]; i++) acc += dout[static_cast<size_t>(rows[i]) * dModel + j];
    e[j] = acc;
  }
}

__global__ void EmbeddingBackwardWpeKernel(const float* dout, float* dwpe, int batch, int seq, int dModel) {
  size_t n = static_cast<size_t>(seq) * dModel;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    float acc = dwpe[i];
    for (int b = 0; b < batch; b++) acc += dout[static_cast<size_t>(b) * n + i];
    dwpe[i] = acc;
  }
}

__global__ void CombineKernel(float* out, const float* own, const float* others, int parts, int self, size_t count,
                              int op) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < count; i += size_t{gridDim.x} * blockDim.x) {
    float acc = self == 0 ? own[i] : others[i];
    for (int r = 1; r < parts; r++) {
      float x = r == self ? own[i] : others[static_cast<size_t>(r) * count + i];
      acc = op == 0 ? acc + x : op == 1 ? fmaxf(acc, x) : fminf(acc, x);
    }
    out[i] = acc;
  }
}

}  // namespace

void LaunchFill(float* x, size_t n, float value, cudaStream_t s) {
  if (n == 0) return;
  FillKernel<<<GridFor(n), kThreads, 0, s>>>(x, n, value);
  TROUPE_LAUNCHED("fill");
}

void LaunchScaleMatrix(float* c, int rows, int cols, int ld, float beta, cudaStream_t s) {
  if (rows == 0 || cols == 0 || beta == 1.0f) return;
  ScaleMatrixKernel<<<GridFor(static_cast<size_t>(rows) * cols), kThreads, 0, s>>>(c, rows, cols, ld, beta);
  TROUPE_LAUNCHED("scaleMatrix");
}

void LaunchGeluForward(const float* x, float* out, size_t n, cudaStream_t s) {
  if (n == 0) return;
  GeluForwardKernel<<<GridFor(n), kThreads, 0, s>>>(x, out, n);
  TROUPE_LAUNCHED("geluForward");
}

void LaunchGeluBackward(const float* x, const float* dout, float* dx, size_t n, cudaStream_t s) {
  if (n == 0) return;
  GeluBackwardKernel<<<GridFor(n), kThreads, 0, s>>>(x, dout, dx, n);
  TROUPE_LAUNCHED("geluBackward");
}

void LaunchBiasResidual(const float* bias, const float* residual, float* out, int rows, int cols, cudaStream_t s) {
  size_t n = static_cast<size_t>(rows) * cols;
  if (n == 0) return;
  BiasResidualKernel<<<GridFor(n), kThreads, 0, s>>>(bias, residual, out, rows, cols);
  TROUPE_LAUNCHED("biasResidual");
}

size_t ColumnSumScratch(int rows, int cols) { return static_cast<size_t>(ColumnChunks(rows)) * cols; }

void LaunchColumnSum(const float* x, float* sums, int rows, int cols, float* scratch, cudaStream_t s) {
  ColumnReduce(Identity{x, cols}, rows, cols, scratch, sums, s);
  TROUPE_LAUNCHED("columnSum");
}

void LaunchEmbeddingForward(const int32_t* tokens, const float* wte, const float* wpe, float* out, int batch, int seq,
                            int dModel, int vocabStart, int vocabSize, cudaStream_t s) {
  unsigned rows = static_cast<unsigned>(batch) * seq;
  if (rows == 0 || dModel == 0) return;
  EmbeddingForwardKernel<<<rows, kThreads, 0, s>>>(tokens, wte, wpe, out, seq, dModel, vocabStart, vocabSize);
  TROUPE_LAUNCHED("embeddingForward");
}

void LaunchEmbeddingBackwardWte(const int32_t* ids, const int32_t* rowStart, const int32_t* rows, int distinct,
                                const float* dout, float* dwte, int dModel, cudaStream_t s) {
  if (distinct == 0 || dModel == 0) return;
  EmbeddingBackwardWteKernel<<<distinct, kThreads, 0, s>>>(ids, rowStart, rows, dout, dwte, dModel);
  TROUPE_LAUNCHED("embeddingBackward(wte)");
}

void LaunchEmbeddingBackwardWpe(const float* dout, float* dwpe, int batch, int seq, int dModel, cudaStream_t s) {
  size_t n = static_cast<size_t>(seq) * dModel;
  if (n == 0) return;
  EmbeddingBackwardWpeKernel<<<GridFor(n), kThreads, 0, s>>>(dout, dwpe, batch, seq, dModel);
  TROUPE_LAUNCHED("embeddingBackward(wpe)");
}

void LaunchCombine(float* out, const float* own, const float* others, int parts, int self, size_t count, int op,
                   cudaStream_t s) {
  if (count == 0) return;
  CombineKernel<<<GridFor(count), kThreads, 0, s>>>(out, own, others, parts, self, count, op);
  TROUPE_LAUNCHED("combine");
}

}  // namespace troupe::cuda
