// LayerNorm forward and backward: one warp per row for the row statistics and dx; the gamma/beta gradients are
// column reductions in a fixed order (column_sum.cuh).
#include "column_sum.cuh"
#include "cuda_check.h"
#include "device_kernels.h"

namespace troupe::cuda {

namespace {

constexpr float kLayerNormEps = 1e-5f;  // as native/src/kernels.h
constexpr int kRowsPerBlock = kThreads / 32;

__global__ void LayerNormForwardKernel(const float* x, const float* gamma, const float* beta, float* out, float* mean,
                                       float* rstd, int rows, int cols) {
  int r = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* xr = x + static_cast<size_t>(r) * cols;
  float sum = 0.0f;
  for (int j = lane; j < cols; j += 32) sum += xr[j];
  float m = WarpSum(sum) / cols;
  float var = 0.0f;
  for (int j = lane; j < cols; j += 32) {
    float d = xr[j] - m;
    var += d * d;
  }
  float s = 1.0f / sqrtf(WarpSum(var) / cols + kLayerNormEps);
  float* o = out + static_cast<size_t>(r) * cols;
  for (int j = lane; j < cols; j += 32) o[j] = (xr[j] - m) * s * gamma[j] + beta[j];
  if (lane == 0) {
    mean[r] = m;
    rstd[r] = s;
  }
}

__global__ void LayerNormDxKernel(const float* dout, const float* x, const float* gamma, const float* mean,
                                  const float* rstd, float* dx, int rows, int cols, bool accumulate) {
  int r = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= rows) return;
  size_t base = static_cast<size_t>(r) * cols;
  float m = mean[r], s = rstd[r];
  float sumD = 0.0f, sumDX = 0.0f;
  for (int j = lane; j < cols; j += 32) {
    float xhat = (x[base + j] - m) * s;
    float dxhat = dout[base + j] * gamma[j];
    sumD += dxhat;
    sumDX += dxhat * xhat;
  }
  float meanD = WarpSum(sumD) / cols, meanDX = WarpSum(sumDX) / cols;
  for (int j = lane; j < cols; j += 32) {
    float g = s * (dout[base + j] * gamma[j] - meanD - (x[base + j] - m) * s * meanDX);
    dx[base + j] = accumulate ? dx[base + j] + g : g;
  }
}

struct GammaGrad {
  const float *dout, *x, *mean, *rstd;
  int cols;
  __device__ float operator()(int r, int j) const {
    size_t i = static_cast<size_t>(r) * cols + j;
    return dout[i] * ((x[i] - mean[r]) * rstd[r]);
  }
};

struct BetaGrad {
  const float* dout;
  int cols;
  __device__ float operator()(int r, int j) const { return dout[static_cast<size_t>(r) * cols + j]; }
};

}  // namespace

void LaunchLayerNormForward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                            int rows, int cols, cudaStream_t s) {
  if (rows == 0) return;
  LayerNormForwardKernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, s>>>(x, gamma, beta, out, mean,
                                                                                         rstd, rows, cols);
  TROUPE_LAUNCHED("layerNormForward");
}

size_t LayerNormBackwardScratch(int rows, int cols) { return static_cast<size_t>(ColumnChunks(rows)) * cols; }

void LaunchLayerNormBackward(const float* dout, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta, int rows, int cols,
                             bool accumulateDx, float* scratch, cudaStream_t s) {
  if (rows == 0) return;
  // The parameter gradients first: dx may alias dout (the CPU kernel reads a row before writing it).
  ColumnReduce(GammaGrad{dout, x, mean, rstd, cols}, rows, cols, scratch, dgamma, s);
  ColumnReduce(BetaGrad{dout, cols}, rows, cols, scratch, dbeta, s);
  LayerNormDxKernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kThreads, 0, s>>>(dout, x, gamma, mean, rstd, dx,
                                                                                    rows, cols, accumulateDx);
  TROUPE_LAUNCHED("layerNormBackward");
}

}  // namespace troupe::cuda
