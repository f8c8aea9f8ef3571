// Launch geometry shared by the .cu files: grid sizes for element-wise loops and deterministic block reductions
// (a fixed tree over a fixed block size, so the order of additions never depends on timing or on the GPU).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

namespace troupe::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped: the loop covers the rest).
inline unsigned GridFor(size_t n) {
  size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(blocks, 65535)));
}

// Sum over the block's kThreads values of v, returned to every thread. `sh` holds kThreads entries.
template <typename T>
__device__ inline T BlockSum(T v, T* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sh[threadIdx.x] += sh[threadIdx.x + stride];
    __syncthreads();
  }
  T total = sh[0];
  __syncthreads();
  return total;
}

__device__ inline float BlockMax(float v, float* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + stride]);
    __syncthreads();
  }
  float m = sh[0];
  __syncthreads();
  return m;
}

// Warp-wide sum / max (xor butterfly: every lane ends with the same, order-fixed result).
__device__ inline float WarpSum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float WarpMax(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace troupe::cuda
