// The CPU addon's kernels by name, and the two ways to run them: on the JS thread (runSync) or on a libuv worker
// thread (run → Promise, runProgram → one job for a list of calls). Every call is checked first (kernel_call.h).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "addon.h"
#include "kernel_call.h"
#include "kernels.h"

namespace troupe {

namespace {

using RunFn = std::function<double(const Args&)>;

std::map<std::string, RunFn> CpuKernels() {
  return {
      {"gemm",
       [](const Args& a) {
         int m = a[2].num, n = a[3].num, k = a[4].num;
         bool ta = a[0].num != 0, tb = a[1].num != 0;
         Gemm(ta, tb, m, n, k, a[5].num, a[6].f, ta ? m : k, a[7].f, tb ? k : n, a[8].num, a[9].f, n);
         return 0.0;
       }},
      {"linearForward",
       [](const Args& a) {
         LinearForward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].num, a[6].num, a[7].num);
         return 0.0;
       }},
      {"linearBackward",
       [](const Args& a) {
         LinearBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].num, a[7].num, a[8].num, a[9].num != 0);
         return 0.0;
       }},
      {"embeddingForward",
       [](const Args& a) {
         EmbeddingForward(a[0].i, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
         return 0.0;
       }},
      {"embeddingBackward",
       [](const Args& a) {
         EmbeddingBackward(a[0].i, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
         return 0.0;
       }},
      {"layerNormForward",
       [](const Args& a) {
         LayerNormForward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].num, a[7].num);
         return 0.0;
       }},
      {"layerNormBackward",
       [](const Args& a) {
         LayerNormBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].f, a[7].f, a[8].num, a[9].num,
                           a[10].num != 0);
         return 0.0;
       }},
      {"geluForward",
       [](const Args& a) {
         GeluForward(a[0].f, a[1].f, static_cast<size_t>(a[2].num));
         return 0.0;
       }},
      {"geluBackward",
       [](const Args& a) {
         GeluBackward(a[0].f, a[1].f, a[2].f, static_cast<size_t>(a[3].num));
         return 0.0;
       }},
      {"attentionForward",
       [](const Args& a) {
         AttentionForward(a[0].f, a[1].f, a[2].f, a[3].num, a[4].num, a[5].num, a[6].num);
         return 0.0;
       }},
      {"attentionBackward",
       [](const Args& a) {
         AttentionBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num);
         return 0.0;
       }},
      {"attentionDecode",
       [](const Args& a) {
         AttentionDecode(a[0].f, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
         return 0.0;
       }},
      {"ceRowMax",
       [](const Args& a) {
         CeRowMax(a[0].f, a[1].f, a[2].num, a[3].num);
         return 0.0;
       }},
      {"ceRowSumExp",
       [](const Args& a) {
         CeRowSumExp(a[0].f, a[1].f, a[2].f, a[3].num, a[4].num);
         return 0.0;
       }},
      {"ceTargetLogit",
       [](const Args& a) {
         CeTargetLogit(a[0].f, a[1].i, a[2].f, a[3].num, a[4].num, a[5].num);
         return 0.0;
       }},
      {"ceBackward",
       [](const Args& a) {
         CeBackward(a[0].f, a[1].f, a[2].f, a[3].i, a[4].f, a[5].num, a[6].num, a[7].num, a[8].num);
         return 0.0;
       }},
      {"crossEntropyFused",
       [](const Args& a) { return CrossEntropyFused(a[0].f, a[1].i, a[2].f, a[3].num, a[4].num, a[5].num); }},
      {"adamw",
       [](const Args& a) {
         AdamW(a[0].f, a[1].f, a[2].f, a[3].f, static_cast<size_t>(a[4].num), a[5].num, a[6].num, a[7].num,
               a[8].num, a[9].num, a[10].num, a[11].num);
         return 0.0;
       }},
      {"sumSquares", [](const Args& a) { return SumSquares(a[0].f, static_cast<size_t>(a[1].num)); }},
      {"fill",
       [](const Args& a) {
         Fill(a[0].f, static_cast<size_t>(a[1].num), static_cast<float>(a[2].num));
         return 0.0;
       }},
      {"initNormal",
       [](const Args& a) {
         InitNormal(a[0].f, static_cast<size_t>(a[1].num), static_cast<float>(a[2].num),
                    static_cast<uint32_t>(a[3].num));
         return 0.0;
       }},
  };
}

// Run functions in rule-table order (empty where the table names a kernel this file lacks: the addon refuses to load).
const std::vector<RunFn>& RunTable() {
  static const auto* table = [] {
    auto byName = CpuKernels();
    auto* v = new std::vector<RunFn>();
    for (const KernelEntry& e : KernelEntries()) v->push_back(byName[e.rule->name]);
    return v;
  }();
  return *table;
}

struct Call {
  size_t kernel;
  Args args;
};

Napi::Value RunSync(const Napi::CallbackInfo& info) {
  Args args;
  const KernelEntry& k = PrepareCall(info.Env(), CallValues(info), args, nullptr);
  return Napi::Number::New(info.Env(), RunTable()[k.index](args));
}

// Runs a list of kernel calls, in order, on one libuv worker thread; resolves to their results.
class ProgramWorker : public Napi::AsyncWorker {
 public:
  ProgramWorker(Napi::Env env, std::vector<Call> calls, std::vector<Napi::ObjectReference> refs, bool single)
      : Napi::AsyncWorker(env, "troupe.kernel"),
        calls_(std::move(calls)),
        refs_(std::move(refs)),
        single_(single),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    results_.reserve(calls_.size());
    for (const Call& c : calls_) results_.push_back(RunTable()[c.kernel](c.args));
  }
  void OnOK() override {
    if (single_) {
      deferred_.Resolve(Napi::Number::New(Env(), results_[0]));
      return;
    }
    Napi::Float64Array out = Napi::Float64Array::New(Env(), results_.size());
    for (size_t i = 0; i < results_.size(); i++) out[i] = results_[i];
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<Call> calls_;
  std::vector<Napi::ObjectReference> refs_;  // keeps the arrays alive until the kernels are done
  bool single_;
  Napi::Promise::Deferred deferred_;
  std::vector<double> results_;
};

Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  std::vector<Call> calls(1);
  std::vector<Napi::ObjectReference> refs;
  calls[0].kernel = PrepareCall(info.Env(), CallValues(info), calls[0].args, &refs).index;
  auto* worker = new ProgramWorker(info.Env(), std::move(calls), std::move(refs), true);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

// runProgram([[name, ...args], ...]): every call is validated before any runs.
Napi::Value RunProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "runProgram: expects one array of calls");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<Call> calls(list.Length());
  std::vector<Napi::ObjectReference> refs;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(env, "runProgram: call " + std::to_string(i) + " must be an array [name, ...args]");
    Napi::Array call = item.As<Napi::Array>();
    std::vector<Napi::Value> values;
    for (uint32_t j = 0; j < call.Length(); j++) values.push_back(call.Get(j));
    calls[i].kernel = PrepareCall(env, values, calls[i].args, &refs).index;
  }
  auto* worker = new ProgramWorker(env, std::move(calls), std::move(refs), false);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  for (const KernelEntry& e : KernelEntries()) {
    if (!RunTable()[e.index]) throw Napi::Error::New(env, std::string("kernel '") + e.rule->name + "' has no CPU implementation");
  }
  exports.Set("runSync", Napi::Function::New(env, RunSync, "runSync"));
  exports.Set("run", Napi::Function::New(env, RunAsync, "run"));
  exports.Set("runProgram", Napi::Function::New(env, RunProgram, "runProgram"));
  exports.Set("kernelSignatures", Napi::Function::New(env, KernelSignatures, "kernelSignatures"));
  exports.Set("checkCall", Napi::Function::New(env, CheckCall, "checkCall"));
}

}  // namespace troupe
