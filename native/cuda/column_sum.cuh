// Deterministic column reductions sums[j] += Σ_r f(r, j): blocks of 32 columns × kChunkRows rows write partial
// sums (8 row-strided threads per column, combined in thread order), then one thread per column adds the chunks
// in order. Used for bias, LayerNorm gamma/beta gradients: no atomics, the same bits on every run.
#pragma once
#include "launch.cuh"

namespace troupe::cuda {

constexpr int kChunkRows = 256;

inline int ColumnChunks(int rows) { return std::max(1, (rows + kChunkRows - 1) / kChunkRows); }

template <typename F>
__global__ void ColumnPartials(F f, int rows, int cols, float* partial) {
  __shared__ float sh[8][33];
  int j = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * kChunkRows, r1 = min(rows, r0 + kChunkRows);
  float acc = 0.0f;
  if (j < cols) {
    for (int r = r0 + threadIdx.y; r < r1; r += 8) acc += f(r, j);
  }
  sh[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    float s = 0.0f;
    for (int y = 0; y < 8; y++) s += sh[y][threadIdx.x];
    partial[static_cast<size_t>(blockIdx.y) * cols + j] = s;
  }
}

// One copy per translation unit (static): no relocatable device code needed.
static __global__ void ColumnFinish(const float* partial, int chunks, int cols, float* sums) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  float s = 0.0f;
  for (int c = 0; c < chunks; c++) s += partial[static_cast<size_t>(c) * cols + j];
  sums[j] += s;
}

// Enqueues both passes; `partial` holds ColumnChunks(rows) * cols floats.
template <typename F>
void ColumnReduce(F f, int rows, int cols, float* partial, float* sums, cudaStream_t s) {
  if (cols <= 0) return;
  int chunks = ColumnChunks(rows);
  ColumnPartials<<<dim3((cols + 31) / 32, chunks), dim3(32, 8), 0, s>>>(f, rows, cols, partial);
  ColumnFinish<<<(cols + kThreads - 1) / kThreads, kThreads, 0, s>>>(partial, chunks, cols, sums);
}

}  // namespace troupe::cuda
