// Argument translation (device twins, staging of foreign arrays), the program worker and host⇄device transfers.
#include "cuda_program.h"

#include <algorithm>
#include <vector>

#include "../src/kernel_call.h"
#include "context.h"
#include "cuda_check.h"
#include "cuda_ops.h"
#include "device_memory.h"

namespace troupe::cuda {

namespace {

struct Call {
  const KernelEntry* kernel;
  Args args;
};

// A host range of foreign arrays staged in device scratch for one call; overlapping arrays share one range, so
// aliasing between arguments (dx == dout) behaves as on the CPU.
struct Staged {
  uintptr_t begin, end;
  bool copyOut;  // holds an f32 argument the kernel may write (i32 arguments are inputs)
  char* dev;
};

DevArgs Translate(Context& ctx, const KernelEntry& k, const Args& args, std::vector<Staged>& staged) {
  DevArgs dev(args.size());
  std::vector<std::pair<size_t, Staged>> foreign;  // (argument, its range)
  for (size_t i = 0; i < args.size(); i++) {
    const Arg& a = args[i];
    dev[i].num = a.num;
    dev[i].len = a.len;
    Kind kind = k.params[i].kind;
    if (kind == Kind::Int || kind == Kind::Num || (kind == Kind::OptF32 && a.f == nullptr)) continue;
    const void* host = kind == Kind::I32 ? static_cast<const void*>(a.i) : static_cast<const void*>(a.f);
    size_t bytes = a.len * 4;
    if (kind == Kind::I32) {
      dev[i].hostI = a.i;  // token ids are host data: always staged, never a (possibly stale) twin
    } else if (void* d = DeviceMemory::Get().DeviceOf(host, bytes)) {
      dev[i].f = static_cast<float*>(d);
      continue;
    }
    auto b = reinterpret_cast<uintptr_t>(host);
    foreign.push_back({i, Staged{b, b + bytes, kind != Kind::I32, nullptr}});
  }
  std::vector<Staged> ranges;
  for (const auto& [i, r] : foreign) ranges.push_back(r);
  std::sort(ranges.begin(), ranges.end(), [](const Staged& x, const Staged& y) { return x.begin < y.begin; });
  for (const Staged& r : ranges) {
    if (!staged.empty() && r.begin < staged.back().end) {
      staged.back().end = std::max(staged.back().end, r.end);
      staged.back().copyOut |= r.copyOut;
    } else {
      staged.push_back(r);
    }
  }
  for (Staged& s : staged) {
    size_t bytes = s.end - s.begin;
    s.dev = static_cast<char*>(ctx.Scratch(std::max<size_t>(bytes, 4)));
    if (bytes > 0) TROUPE_CUDA(cudaMemcpyAsync(s.dev, reinterpret_cast<void*>(s.begin), bytes, cudaMemcpyHostToDevice, ctx.stream));
    Counters().stagedIn += bytes;
  }
  for (const auto& [i, r] : foreign) {
    auto it = std::upper_bound(staged.begin(), staged.end(), r.begin, [](uintptr_t p, const Staged& s) { return p < s.begin; });
    char* d = (it - 1)->dev + (r.begin - (it - 1)->begin);
    if (k.params[i].kind == Kind::I32) dev[i].i = reinterpret_cast<int32_t*>(d);
    else dev[i].f = reinterpret_cast<float*>(d);
  }
  return dev;
}

// One call on the stream: stage in, run, stage out (the copies to pageable memory wait for the kernel).
void RunCall(Context& ctx, const Call& call, double* result) {
  ctx.ResetScratch();
  std::vector<Staged> staged;
  DevArgs dev = Translate(ctx, *call.kernel, call.args, staged);
  const CudaRunFn& run = CudaRunTable()[call.kernel->index];
  if (!run) throw CudaFailure(std::string("kernel '") + call.kernel->rule->name + "' has no CUDA implementation");
  run(ctx, dev, result);
  for (const Staged& s : staged) {
    if (!s.copyOut || s.end == s.begin) continue;
    TROUPE_CUDA(cudaMemcpyAsync(reinterpret_cast<void*>(s.begin), s.dev, s.end - s.begin, cudaMemcpyDeviceToHost, ctx.stream));
    Counters().stagedOut += s.end - s.begin;
  }
}

std::vector<double> RunCalls(const std::vector<Call>& calls) {
  Context& ctx = Context::Get();
  std::lock_guard<std::mutex> lock(ctx.mu);
  ctx.Enter();
  double* results = ctx.Results(calls.size());
  for (size_t i = 0; i < calls.size(); i++) RunCall(ctx, calls[i], results + i);
  std::vector<double> out(calls.size());
  if (!out.empty()) TROUPE_CUDA(cudaMemcpyAsync(out.data(), results, out.size() * sizeof(double), cudaMemcpyDeviceToHost, ctx.stream));
  TROUPE_CUDA(cudaStreamSynchronize(ctx.stream));
  return out;
}

class ProgramWorker : public Napi::AsyncWorker {
 public:
  ProgramWorker(Napi::Env env, std::vector<Call> calls, std::vector<Napi::ObjectReference> refs, bool single)
      : Napi::AsyncWorker(env, "troupe.cuda.kernel"),
        calls_(std::move(calls)),
        refs_(std::move(refs)),
        single_(single),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      results_ = RunCalls(calls_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
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
  std::vector<Napi::ObjectReference> refs_;  // keeps the arrays (and so their device twins) alive until done
  bool single_;
  Napi::Promise::Deferred deferred_;
  std::vector<double> results_;
};

Napi::Value Queue(Napi::Env env, std::vector<Call> calls, std::vector<Napi::ObjectReference> refs, bool single) {
  Context::Get();  // fail on the JS thread when unconfigured
  auto* worker = new ProgramWorker(env, std::move(calls), std::move(refs), single);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

class TransferWorker : public Napi::AsyncWorker {
 public:
  TransferWorker(Napi::Env env, std::vector<std::pair<void*, size_t>> arrays, std::vector<Napi::ObjectReference> refs,
                 bool toDevice)
      : Napi::AsyncWorker(env, "troupe.cuda.transfer"),
        arrays_(std::move(arrays)),
        refs_(std::move(refs)),
        toDevice_(toDevice),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      Context& ctx = Context::Get();
      std::lock_guard<std::mutex> lock(ctx.mu);
      ctx.Enter();
      for (auto [host, bytes] : arrays_) {
        void* dev = DeviceMemory::Get().DeviceOf(host, bytes);
        if (toDevice_) TROUPE_CUDA(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, ctx.stream));
        else TROUPE_CUDA(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, ctx.stream));
        (toDevice_ ? Counters().uploaded : Counters().downloaded) += bytes;
      }
      TROUPE_CUDA(cudaStreamSynchronize(ctx.stream));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<std::pair<void*, size_t>> arrays_;
  std::vector<Napi::ObjectReference> refs_;
  bool toDevice_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Transfer(const Napi::CallbackInfo& info, bool toDevice) {
  Napi::Env env = info.Env();
  const char* what = toDevice ? "upload" : "download";
  if (info.Length() != 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expects an array of Float32Arrays");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::pair<void*, size_t>> arrays;
  std::vector<Napi::ObjectReference> refs;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, std::string(what) + ": item " + std::to_string(i) + " is not a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    size_t bytes = a.ElementLength() * 4;
    if (bytes == 0) continue;
    if (DeviceMemory::Get().DeviceOf(a.Data(), bytes) == nullptr)
      throw Napi::TypeError::New(env, std::string(what) + ": item " + std::to_string(i) + " was not allocated by the CUDA backend");
    arrays.emplace_back(a.Data(), bytes);
    refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Context::Get();
  auto* worker = new TransferWorker(env, std::move(arrays), std::move(refs), toDevice);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

Napi::Value RunSync(const Napi::CallbackInfo& info) {
  std::vector<Call> calls(1);
  calls[0].kernel = &PrepareCall(info.Env(), CallValues(info), calls[0].args, nullptr);
  try {
    return Napi::Number::New(info.Env(), RunCalls(calls)[0]);
  } catch (const CudaFailure& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  std::vector<Call> calls(1);
  std::vector<Napi::ObjectReference> refs;
  calls[0].kernel = &PrepareCall(info.Env(), CallValues(info), calls[0].args, &refs);
  return Queue(info.Env(), std::move(calls), std::move(refs), true);
}

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
    calls[i].kernel = &PrepareCall(env, values, calls[i].args, &refs);
  }
  return Queue(env, std::move(calls), std::move(refs), false);
}

Napi::Value Upload(const Napi::CallbackInfo& info) { return Transfer(info, true); }
Napi::Value Download(const Napi::CallbackInfo& info) { return Transfer(info, false); }

}  // namespace troupe::cuda
