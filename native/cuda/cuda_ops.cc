// Registry kernels on the device. Argument positions follow the signatures in native/kernel-specs.ts.
#include "cuda_ops.h"

#include <cmath>
#include <map>
#include <string>

#include "../src/kernel_call.h"
#include "cuda_check.h"
#include "device_kernels.h"
#include "gemm.h"

namespace troupe::cuda {

namespace {

int I(const DevArg& a) { return static_cast<int>(a.num); }
size_t Z(const DevArg& a) { return static_cast<size_t>(a.num); }
float F(const DevArg& a) { return static_cast<float>(a.num); }

template <typename T>
T* ScratchOf(Context& ctx, size_t count) {
  return static_cast<T*>(ctx.Scratch(count * sizeof(T)));
}

void RunGemm(Context& ctx, const DevArgs& a, double*) {
  int m = I(a[2]), n = I(a[3]), k = I(a[4]);
  bool ta = a[0].num != 0, tb = a[1].num != 0;
  Gemm(ctx, ta, tb, m, n, k, F(a[5]), a[6].f, ta ? m : k, a[7].f, tb ? k : n, F(a[8]), a[9].f, n);
}

void RunLinearForward(Context& ctx, const DevArgs& a, double*) {
  const float *bias = a[2].f, *residual = a[3].f;
  int rows = I(a[5]), in = I(a[6]), out = I(a[7]);
  float beta = 0.0f;
  if (bias != nullptr || residual != nullptr) {
    LaunchBiasResidual(bias, residual, a[4].f, rows, out, ctx.stream);
    beta = 1.0f;
  }
  Gemm(ctx, false, true, rows, out, in, 1.0f, a[0].f, in, a[1].f, in, beta, a[4].f, out);
}

void RunLinearBackward(Context& ctx, const DevArgs& a, double*) {
  const float *dout = a[0].f, *x = a[1].f, *weight = a[2].f;
  float *dx = a[3].f, *dweight = a[4].f, *dbias = a[5].f;
  int rows = I(a[6]), in = I(a[7]), out = I(a[8]);
  if (dx != nullptr) Gemm(ctx, false, false, rows, in, out, 1.0f, dout, out, weight, in, a[9].num != 0 ? 1.0f : 0.0f, dx, in);
  Gemm(ctx, true, false, out, in, rows, 1.0f, dout, out, x, in, 1.0f, dweight, in);
  if (dbias != nullptr) LaunchColumnSum(dout, dbias, rows, out, ScratchOf<float>(ctx, ColumnSumScratch(rows, out)), ctx.stream);
}

void RunEmbeddingForward(Context& ctx, const DevArgs& a, double*) {
  LaunchEmbeddingForward(a[0].i, a[1].f, a[2].f, a[3].f, I(a[4]), I(a[5]), I(a[6]), I(a[7]), I(a[8]), ctx.stream);
}

// The rows of each vocabulary entry, grouped on the host (a stable counting sort of the token ids), so the device
// adds every gradient row in the CPU's order without atomics.
void RunEmbeddingBackward(Context& ctx, const DevArgs& a, double*) {
  const int32_t* tokens = a[0].hostI;
  int batch = I(a[4]), seq = I(a[5]), d = I(a[6]), vocabStart = I(a[7]), vocabSize = I(a[8]);
  size_t n = static_cast<size_t>(batch) * seq;
  std::vector<int32_t> count(static_cast<size_t>(vocabSize) + 1, 0);
  for (size_t r = 0; r < n; r++) {
    int local = tokens[r] - vocabStart;
    if (local >= 0 && local < vocabSize) count[local + 1]++;
  }
  std::vector<int32_t> ids, rowStart{0};
  for (int v = 0; v < vocabSize; v++) {
    if (count[v + 1] == 0) continue;
    ids.push_back(v);
    rowStart.push_back(rowStart.back() + count[v + 1]);
  }
  std::vector<int32_t> next(static_cast<size_t>(vocabSize), 0), rows(static_cast<size_t>(rowStart.back()));
  for (size_t k = 0; k < ids.size(); k++) next[ids[k]] = rowStart[k];
  for (size_t r = 0; r < n; r++) {
    int local = tokens[r] - vocabStart;
    if (local >= 0 && local < vocabSize) rows[next[local]++] = static_cast<int32_t>(r);
  }
  if (!ids.empty()) {
    int32_t* dev = ScratchOf<int32_t>(ctx, ids.size() + rowStart.size() + rows.size());
    TROUPE_CUDA(cudaMemcpyAsync(dev, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice, ctx.stream));
    TROUPE_CUDA(cudaMemcpyAsync(dev + ids.size(), rowStart.data(), rowStart.size() * 4, cudaMemcpyHostToDevice, ctx.stream));
    TROUPE_CUDA(cudaMemcpyAsync(dev + ids.size() + rowStart.size(), rows.data(), rows.size() * 4, cudaMemcpyHostToDevice, ctx.stream));
    LaunchEmbeddingBackwardWte(dev, dev + ids.size(), dev + ids.size() + rowStart.size(), static_cast<int>(ids.size()),
                               a[1].f, a[2].f, d, ctx.stream);
  }
  if (a[3].f != nullptr) LaunchEmbeddingBackwardWpe(a[1].f, a[3].f, batch, seq, d, ctx.stream);
  // The host vectors die here: cudaMemcpyAsync from pageable memory has copied them out before returning.
}

void RunLayerNormForward(Context& ctx, const DevArgs& a, double*) {
  LaunchLayerNormForward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, I(a[6]), I(a[7]), ctx.stream);
}

void RunLayerNormBackward(Context& ctx, const DevArgs& a, double*) {
  int rows = I(a[8]), cols = I(a[9]);
  float* scratch = ScratchOf<float>(ctx, LayerNormBackwardScratch(rows, cols));
  LaunchLayerNormBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].f, a[7].f, rows, cols, a[10].num != 0,
                          scratch, ctx.stream);
}

// Per sequence: S = scale·Q·Kᵀ and Y = P·V as GEMMs batched over the heads (head h of q/k/v starts h·headDim into
// each qkv row); one causal softmax over all rows in between.
void RunAttentionForward(Context& ctx, const DevArgs& a, double*) {
  const float* qkv = a[0].f;
  float *out = a[1].f, *probs = a[2].f;
  int batch = I(a[3]), t = I(a[4]), heads = I(a[5]), e = I(a[6]), d = heads * e, ld = 3 * d;
  long long tt = static_cast<long long>(t) * t;
  float scale = 1.0f / std::sqrt(static_cast<float>(e));
  for (int b = 0; b < batch; b++) {
    const float* base = qkv + static_cast<size_t>(b) * t * ld;
    GemmBatched(ctx, false, true, t, t, e, scale, base, ld, e, base + d, ld, e, 0.0f, probs + b * heads * tt, t, tt, heads);
  }
  LaunchCausalSoftmax(probs, static_cast<size_t>(batch) * heads * t, t, ctx.stream);
  for (int b = 0; b < batch; b++) {
    const float* base = qkv + static_cast<size_t>(b) * t * ld;
    GemmBatched(ctx, false, false, t, e, t, 1.0f, probs + b * heads * tt, t, tt, base + 2 * d, ld, e, 0.0f,
                out + static_cast<size_t>(b) * t * d, d, e, heads);
  }
}

void RunAttentionBackward(Context& ctx, const DevArgs& a, double*) {
  const float *qkv = a[0].f, *probs = a[1].f, *dout = a[2].f;
  float* dqkv = a[3].f;
  int batch = I(a[4]), t = I(a[5]), heads = I(a[6]), e = I(a[7]), d = heads * e, ld = 3 * d;
  long long tt = static_cast<long long>(t) * t;
  float scale = 1.0f / std::sqrt(static_cast<float>(e));
  float* ds = ScratchOf<float>(ctx, static_cast<size_t>(heads) * tt);  // reused per sequence (stream order)
  for (int b = 0; b < batch; b++) {
    const float* base = qkv + static_cast<size_t>(b) * t * ld;
    const float* p = probs + b * heads * tt;
    const float* dy = dout + static_cast<size_t>(b) * t * d;
    float* dbase = dqkv + static_cast<size_t>(b) * t * ld;
    GemmBatched(ctx, false, true, t, t, e, 1.0f, dy, d, e, base + 2 * d, ld, e, 0.0f, ds, t, tt, heads);     // dP
    GemmBatched(ctx, true, false, t, e, t, 1.0f, p, t, tt, dy, d, e, 0.0f, dbase + 2 * d, ld, e, heads);     // dV
    LaunchCausalSoftmaxBackward(p, ds, static_cast<size_t>(heads) * t, t, ctx.stream);                      // dS
    GemmBatched(ctx, false, false, t, e, t, scale, ds, t, tt, base + d, ld, e, 0.0f, dbase, ld, e, heads);   // dQ
    GemmBatched(ctx, true, false, t, e, t, scale, ds, t, tt, base, ld, e, 0.0f, dbase + d, ld, e, heads);    // dK
  }
}

void RunAttentionDecode(Context& ctx, const DevArgs& a, double*) {
  LaunchAttentionDecode(a[0].f, a[1].f, a[2].f, a[3].f, I(a[4]), I(a[5]), I(a[6]), I(a[7]), I(a[8]), ctx.stream);
}

void RunCrossEntropyFused(Context& ctx, const DevArgs& a, double* result) {
  int rows = I(a[3]);
  LaunchCrossEntropyFused(a[0].f, a[1].i, a[2].f, rows, I(a[4]), F(a[5]), ctx.stream);
  LaunchSum(a[2].f, static_cast<size_t>(rows), false, result, ScratchOf<double>(ctx, SumScratch()), ctx.stream);
}

std::map<std::string, CudaRunFn> Kernels() {
  return {
      {"gemm", RunGemm},
      {"linearForward", RunLinearForward},
      {"linearBackward", RunLinearBackward},
      {"embeddingForward", RunEmbeddingForward},
      {"embeddingBackward", RunEmbeddingBackward},
      {"layerNormForward", RunLayerNormForward},
      {"layerNormBackward", RunLayerNormBackward},
      {"geluForward", [](Context& c, const DevArgs& a, double*) { LaunchGeluForward(a[0].f, a[1].f, Z(a[2]), c.stream); }},
      {"geluBackward",
       [](Context& c, const DevArgs& a, double*) { LaunchGeluBackward(a[0].f, a[1].f, a[2].f, Z(a[3]), c.stream); }},
      {"attentionForward", RunAttentionForward},
      {"attentionBackward", RunAttentionBackward},
      {"attentionDecode", RunAttentionDecode},
      {"ceRowMax", [](Context& c, const DevArgs& a, double*) { LaunchCeRowMax(a[0].f, a[1].f, I(a[2]), I(a[3]), c.stream); }},
      {"ceRowSumExp",
       [](Context& c, const DevArgs& a, double*) { LaunchCeRowSumExp(a[0].f, a[1].f, a[2].f, I(a[3]), I(a[4]), c.stream); }},
      {"ceTargetLogit",
       [](Context& c, const DevArgs& a, double*) {
         LaunchCeTargetLogit(a[0].f, a[1].i, a[2].f, I(a[3]), I(a[4]), I(a[5]), c.stream);
       }},
      {"ceBackward",
       [](Context& c, const DevArgs& a, double*) {
         LaunchCeBackward(a[0].f, a[1].f, a[2].f, a[3].i, a[4].f, I(a[5]), I(a[6]), I(a[7]), F(a[8]), c.stream);
       }},
      {"crossEntropyFused", RunCrossEntropyFused},
      {"adamw",
       [](Context& c, const DevArgs& a, double*) {
         LaunchAdamW(a[0].f, a[1].f, a[2].f, a[3].f, Z(a[4]), F(a[5]), F(a[6]), F(a[7]), F(a[8]), F(a[9]), F(a[10]),
                     I(a[11]), c.stream);
       }},
      {"sumSquares",
       [](Context& c, const DevArgs& a, double* result) {
         LaunchSum(a[0].f, Z(a[1]), true, result, ScratchOf<double>(c, SumScratch()), c.stream);
       }},
      {"fill", [](Context& c, const DevArgs& a, double*) { LaunchFill(a[0].f, Z(a[1]), F(a[2]), c.stream); }},
      {"initNormal",
       [](Context& c, const DevArgs& a, double*) {
         LaunchInitNormal(a[0].f, Z(a[1]), F(a[2]), static_cast<uint32_t>(a[3].num), c.stream);
       }},
  };
}

}  // namespace

const std::vector<CudaRunFn>& CudaRunTable() {
  static const auto* table = [] {
    auto byName = Kernels();
    auto* v = new std::vector<CudaRunFn>();
    for (const KernelEntry& e : KernelEntries()) v->push_back(byName[e.rule->name]);
    return v;
  }();
  return *table;
}

}  // namespace troupe::cuda
