// Kernels by name: argument signatures, size checks (a bad call is a JS TypeError/RangeError, never a crash),
// and the two ways to run one: on the JS thread (runSync) or on a libuv worker thread (run → Promise).
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "addon.h"
#include "kernels.h"

namespace troupe {

namespace {

enum class Kind { F32, OptF32, I32, Int, Num };

struct Param {
  std::string name;
  Kind kind;
};

struct Arg {
  float* f = nullptr;
  int32_t* i = nullptr;
  size_t len = 0;
  double num = 0;
};

using Args = std::vector<Arg>;

// Thrown by checks; becomes a JS RangeError.
struct BadArgument {
  std::string message;
};

struct Kernel {
  std::vector<Param> params;
  std::function<void(const Args&)> check;
  std::function<double(const Args&)> run;
};

class Checker {
 public:
  Checker(const std::string& kernel, const std::vector<Param>& params, const Args& args)
      : kernel_(kernel), params_(params), args_(args) {}
  int Int(int idx) const { return static_cast<int>(args_[idx].num); }
  double Num(int idx) const { return args_[idx].num; }
  // Array `idx` must hold at least `count` elements (skipped when an optional array is null).
  void Need(int idx, size_t count, const char* formula) const {
    const Arg& a = args_[idx];
    if (params_[idx].kind == Kind::OptF32 && a.f == nullptr) return;
    if (a.len < count) {
      std::ostringstream os;
      os << kernel_ << ": '" << params_[idx].name << "' has " << a.len << " elements, needs " << count << " ("
         << formula << ")";
      throw BadArgument{os.str()};
    }
  }
  void Positive(int idx) const {
    if (args_[idx].num <= 0) Fail(idx, "must be positive");
  }
  void Fail(int idx, const std::string& what) const {
    throw BadArgument{kernel_ + ": '" + params_[idx].name + "' " + what};
  }
  // Every token id must lie in [0, limit).
  void Tokens(int idx, size_t count, int limit) const {
    const int32_t* t = args_[idx].i;
    for (size_t r = 0; r < count; r++) {
      if (t[r] < 0 || t[r] >= limit) {
        std::ostringstream os;
        os << "has value " << t[r] << " at index " << r << ", outside [0, " << limit << ")";
        Fail(idx, os.str());
      }
    }
  }

 private:
  const std::string& kernel_;
  const std::vector<Param>& params_;
  const Args& args_;
};

std::vector<Param> ParseSignature(const std::string& sig) {
  std::vector<Param> params;
  std::istringstream in(sig);
  std::string token;
  while (in >> token) {
    auto colon = token.find(':');
    std::string name = token.substr(0, colon), kind = token.substr(colon + 1);
    Kind k = kind == "f32" ? Kind::F32 : kind == "f32?" ? Kind::OptF32 : kind == "i32" ? Kind::I32 : kind == "int" ? Kind::Int : Kind::Num;
    params.push_back({name, k});
  }
  return params;
}

size_t Z(int v) { return static_cast<size_t>(v); }

std::map<std::string, std::pair<std::string, Kernel>> BuildKernels() {
  std::map<std::string, std::pair<std::string, Kernel>> table;
  auto add = [&](const std::string& name, const std::string& sig, std::function<void(const Checker&)> check,
                 std::function<double(const Args&)> run) {
    Kernel k;
    k.params = ParseSignature(sig);
    table[name] = {sig, Kernel{k.params, nullptr, run}};
    auto& entry = table[name].second;
    entry.check = [name, &entry, check](const Args& args) { check(Checker(name, entry.params, args)); };
  };

  add("gemm", "transA:int transB:int m:int n:int k:int alpha:num a:f32 b:f32 beta:num c:f32",
      [](const Checker& c) {
        c.Need(6, Z(c.Int(2)) * c.Int(4), "m*k");
        c.Need(7, Z(c.Int(4)) * c.Int(3), "k*n");
        c.Need(9, Z(c.Int(2)) * c.Int(3), "m*n");
      },
      [](const Args& a) {
        int m = a[2].num, n = a[3].num, k = a[4].num;
        bool ta = a[0].num != 0, tb = a[1].num != 0;
        Gemm(ta, tb, m, n, k, a[5].num, a[6].f, ta ? m : k, a[7].f, tb ? k : n, a[8].num, a[9].f, n);
        return 0.0;
      });

  add("linearForward", "x:f32 weight:f32 bias:f32? residual:f32? out:f32 rows:int inFeatures:int outFeatures:int",
      [](const Checker& c) {
        size_t rows = c.Int(5), in = c.Int(6), out = c.Int(7);
        c.Need(0, rows * in, "rows*inFeatures");
        c.Need(1, out * in, "outFeatures*inFeatures");
        c.Need(2, out, "outFeatures");
        c.Need(3, rows * out, "rows*outFeatures");
        c.Need(4, rows * out, "rows*outFeatures");
      },
      [](const Args& a) {
        LinearForward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].num, a[6].num, a[7].num);
        return 0.0;
      });

  add("linearBackward",
      "dout:f32 x:f32 weight:f32 dx:f32? dweight:f32 dbias:f32? rows:int inFeatures:int outFeatures:int "
      "accumulateDx:int",
      [](const Checker& c) {
        size_t rows = c.Int(6), in = c.Int(7), out = c.Int(8);
        c.Need(0, rows * out, "rows*outFeatures");
        c.Need(1, rows * in, "rows*inFeatures");
        c.Need(2, out * in, "outFeatures*inFeatures");
        c.Need(3, rows * in, "rows*inFeatures");
        c.Need(4, out * in, "outFeatures*inFeatures");
        c.Need(5, out, "outFeatures");
      },
      [](const Args& a) {
        LinearBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].num, a[7].num, a[8].num, a[9].num != 0);
        return 0.0;
      });

  add("embeddingForward",
      "tokens:i32 wte:f32 wpe:f32? out:f32 batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
      [](const Checker& c) {
        size_t n = Z(c.Int(4)) * c.Int(5), d = c.Int(6);
        c.Need(0, n, "batch*seq");
        c.Need(1, Z(c.Int(8)) * d, "vocabSize*dModel");
        c.Need(2, Z(c.Int(5)) * d, "seq*dModel");
        c.Need(3, n * d, "batch*seq*dModel");
        if (c.Int(7) + c.Int(8) > c.Int(9)) c.Fail(8, "exceeds vocabTotal - vocabStart");
        c.Tokens(0, n, c.Int(9));
      },
      [](const Args& a) {
        EmbeddingForward(a[0].i, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
        return 0.0;
      });

  add("embeddingBackward",
      "tokens:i32 dout:f32 dwte:f32 dwpe:f32? batch:int seq:int dModel:int vocabStart:int vocabSize:int vocabTotal:int",
      [](const Checker& c) {
        size_t n = Z(c.Int(4)) * c.Int(5), d = c.Int(6);
        c.Need(0, n, "batch*seq");
        c.Need(1, n * d, "batch*seq*dModel");
        c.Need(2, Z(c.Int(8)) * d, "vocabSize*dModel");
        c.Need(3, Z(c.Int(5)) * d, "seq*dModel");
        if (c.Int(7) + c.Int(8) > c.Int(9)) c.Fail(8, "exceeds vocabTotal - vocabStart");
        c.Tokens(0, n, c.Int(9));
      },
      [](const Args& a) {
        EmbeddingBackward(a[0].i, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
        return 0.0;
      });

  add("layerNormForward", "x:f32 gamma:f32 beta:f32 out:f32 mean:f32 rstd:f32 rows:int cols:int",
      [](const Checker& c) {
        size_t rows = c.Int(6), cols = c.Int(7);
        c.Positive(7);
        c.Need(0, rows * cols, "rows*cols");
        c.Need(1, cols, "cols");
        c.Need(2, cols, "cols");
        c.Need(3, rows * cols, "rows*cols");
        c.Need(4, rows, "rows");
        c.Need(5, rows, "rows");
      },
      [](const Args& a) {
        LayerNormForward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].num, a[7].num);
        return 0.0;
      });

  add("layerNormBackward",
      "dout:f32 x:f32 gamma:f32 mean:f32 rstd:f32 dx:f32 dgamma:f32 dbeta:f32 rows:int cols:int accumulateDx:int",
      [](const Checker& c) {
        size_t rows = c.Int(8), cols = c.Int(9);
        c.Positive(9);
        c.Need(0, rows * cols, "rows*cols");
        c.Need(1, rows * cols, "rows*cols");
        c.Need(2, cols, "cols");
        c.Need(3, rows, "rows");
        c.Need(4, rows, "rows");
        c.Need(5, rows * cols, "rows*cols");
        c.Need(6, cols, "cols");
        c.Need(7, cols, "cols");
      },
      [](const Args& a) {
        LayerNormBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].f, a[5].f, a[6].f, a[7].f, a[8].num, a[9].num,
                          a[10].num != 0);
        return 0.0;
      });

  add("geluForward", "x:f32 out:f32 n:int",
      [](const Checker& c) {
        c.Need(0, c.Int(2), "n");
        c.Need(1, c.Int(2), "n");
      },
      [](const Args& a) {
        GeluForward(a[0].f, a[1].f, static_cast<size_t>(a[2].num));
        return 0.0;
      });

  add("geluBackward", "x:f32 dout:f32 dx:f32 n:int",
      [](const Checker& c) {
        for (int i = 0; i < 3; i++) c.Need(i, c.Int(3), "n");
      },
      [](const Args& a) {
        GeluBackward(a[0].f, a[1].f, a[2].f, static_cast<size_t>(a[3].num));
        return 0.0;
      });

  auto attnCheck = [](int qkvIdx, int outIdx, int probsIdx, int first) {
    return [=](const Checker& c) {
      for (int i = first; i < first + 4; i++) c.Positive(i);
      size_t b = c.Int(first), t = c.Int(first + 1), h = c.Int(first + 2), e = c.Int(first + 3);
      c.Need(qkvIdx, b * t * 3 * h * e, "batch*seq*3*heads*headDim");
      c.Need(outIdx, b * t * h * e, "batch*seq*heads*headDim");
      c.Need(probsIdx, b * h * t * t, "batch*heads*seq*seq");
    };
  };
  add("attentionForward", "qkv:f32 out:f32 probs:f32 batch:int seq:int heads:int headDim:int", attnCheck(0, 1, 2, 3),
      [](const Args& a) {
        AttentionForward(a[0].f, a[1].f, a[2].f, a[3].num, a[4].num, a[5].num, a[6].num);
        return 0.0;
      });
  add("attentionBackward", "qkv:f32 probs:f32 dout:f32 dqkv:f32 batch:int seq:int heads:int headDim:int",
      [attnCheck](const Checker& c) {
        attnCheck(0, 2, 1, 4)(c);
        c.Need(3, Z(c.Int(4)) * c.Int(5) * 3 * c.Int(6) * c.Int(7), "batch*seq*3*heads*headDim");
      },
      [](const Args& a) {
        AttentionBackward(a[0].f, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num);
        return 0.0;
      });
  add("attentionDecode", "qkv:f32 kCache:f32 vCache:f32 out:f32 batch:int heads:int headDim:int maxLen:int pos:int",
      [](const Checker& c) {
        for (int i = 4; i < 8; i++) c.Positive(i);
        size_t b = c.Int(4), h = c.Int(5), e = c.Int(6), len = c.Int(7);
        if (c.Int(8) >= c.Int(7)) c.Fail(8, "must be below maxLen (the cache is full)");
        c.Need(0, b * 3 * h * e, "batch*3*heads*headDim");
        c.Need(1, b * len * h * e, "batch*maxLen*heads*headDim");
        c.Need(2, b * len * h * e, "batch*maxLen*heads*headDim");
        c.Need(3, b * h * e, "batch*heads*headDim");
      },
      [](const Args& a) {
        AttentionDecode(a[0].f, a[1].f, a[2].f, a[3].f, a[4].num, a[5].num, a[6].num, a[7].num, a[8].num);
        return 0.0;
      });

  add("ceRowMax", "logits:f32 rowMax:f32 rows:int cols:int",
      [](const Checker& c) {
        c.Positive(3);
        c.Need(0, Z(c.Int(2)) * c.Int(3), "rows*cols");
        c.Need(1, c.Int(2), "rows");
      },
      [](const Args& a) {
        CeRowMax(a[0].f, a[1].f, a[2].num, a[3].num);
        return 0.0;
      });
  add("ceRowSumExp", "logits:f32 rowMax:f32 sumExp:f32 rows:int cols:int",
      [](const Checker& c) {
        c.Need(0, Z(c.Int(3)) * c.Int(4), "rows*cols");
        c.Need(1, c.Int(3), "rows");
        c.Need(2, c.Int(3), "rows");
      },
      [](const Args& a) {
        CeRowSumExp(a[0].f, a[1].f, a[2].f, a[3].num, a[4].num);
        return 0.0;
      });
  add("ceTargetLogit", "logits:f32 targets:i32 out:f32 rows:int cols:int vocabStart:int",
      [](const Checker& c) {
        c.Need(0, Z(c.Int(3)) * c.Int(4), "rows*cols");
        c.Need(1, c.Int(3), "rows");
        c.Need(2, c.Int(3), "rows");
      },
      [](const Args& a) {
        CeTargetLogit(a[0].f, a[1].i, a[2].f, a[3].num, a[4].num, a[5].num);
        return 0.0;
      });
  add("ceBackward",
      "logits:f32 rowMax:f32 sumExp:f32 targets:i32 dlogits:f32 rows:int cols:int vocabStart:int scale:num",
      [](const Checker& c) {
        size_t rows = c.Int(5), cols = c.Int(6);
        c.Need(0, rows * cols, "rows*cols");
        c.Need(1, rows, "rows");
        c.Need(2, rows, "rows");
        c.Need(3, rows, "rows");
        c.Need(4, rows * cols, "rows*cols");
      },
      [](const Args& a) {
        CeBackward(a[0].f, a[1].f, a[2].f, a[3].i, a[4].f, a[5].num, a[6].num, a[7].num, a[8].num);
        return 0.0;
      });
  add("crossEntropyFused", "logits:f32 targets:i32 losses:f32 rows:int cols:int scale:num",
      [](const Checker& c) {
        size_t rows = c.Int(3), cols = c.Int(4);
        c.Need(0, rows * cols, "rows*cols");
        c.Need(1, rows, "rows");
        c.Need(2, rows, "rows");
        c.Tokens(1, rows, c.Int(4));
      },
      [](const Args& a) { return CrossEntropyFused(a[0].f, a[1].i, a[2].f, a[3].num, a[4].num, a[5].num); });

  add("adamw",
      "param:f32 grad:f32 expAvg:f32 expAvgSq:f32 n:int lr:num beta1:num beta2:num eps:num weightDecay:num "
      "gradScale:num step:int",
      [](const Checker& c) {
        for (int i = 0; i < 4; i++) c.Need(i, c.Int(4), "n");
        c.Positive(11);
      },
      [](const Args& a) {
        AdamW(a[0].f, a[1].f, a[2].f, a[3].f, static_cast<size_t>(a[4].num), a[5].num, a[6].num, a[7].num, a[8].num,
              a[9].num, a[10].num, a[11].num);
        return 0.0;
      });
  add("sumSquares", "x:f32 n:int", [](const Checker& c) { c.Need(0, c.Int(1), "n"); },
      [](const Args& a) { return SumSquares(a[0].f, static_cast<size_t>(a[1].num)); });
  add("fill", "x:f32 n:int value:num", [](const Checker& c) { c.Need(0, c.Int(1), "n"); },
      [](const Args& a) {
        Fill(a[0].f, static_cast<size_t>(a[1].num), static_cast<float>(a[2].num));
        return 0.0;
      });
  add("initNormal", "x:f32 n:int std:num key:num", [](const Checker& c) {
        c.Need(0, c.Int(1), "n");
        double key = c.Num(3);
        if (key < 0 || key > 4294967295.0 || key != static_cast<double>(static_cast<int64_t>(key))) c.Fail(3, "must be a 32-bit unsigned integer");
      },
      [](const Args& a) {
        InitNormal(a[0].f, static_cast<size_t>(a[1].num), static_cast<float>(a[2].num), static_cast<uint32_t>(a[3].num));
        return 0.0;
      });
  return table;
}

const std::map<std::string, std::pair<std::string, Kernel>>& Kernels() {
  static const auto* table = new std::map<std::string, std::pair<std::string, Kernel>>(BuildKernels());
  return *table;
}

// Validates kinds and sizes; on success fills `args` and pins the arrays in `refs` (for async use).
// `values` = [name, ...arguments].
const Kernel& Prepare(Napi::Env env, const std::vector<Napi::Value>& values, Args& args,
                      std::vector<Napi::ObjectReference>* refs) {
  if (values.empty() || !values[0].IsString()) throw Napi::TypeError::New(env, "kernel name must be a string");
  std::string name = values[0].As<Napi::String>().Utf8Value();
  auto it = Kernels().find(name);
  if (it == Kernels().end()) throw Napi::Error::New(env, "unknown kernel '" + name + "'");
  const Kernel& k = it->second.second;
  if (values.size() - 1 != k.params.size()) {
    throw Napi::TypeError::New(env, name + ": expects " + std::to_string(k.params.size()) + " arguments (" +
                                        it->second.first + "), got " + std::to_string(values.size() - 1));
  }
  args.resize(k.params.size());
  for (size_t i = 0; i < k.params.size(); i++) {
    const Param& p = k.params[i];
    Napi::Value v = values[i + 1];
    auto typeError = [&](const char* want) {
      return Napi::TypeError::New(env, name + ": '" + p.name + "' must be " + want);
    };
    switch (p.kind) {
      case Kind::OptF32:
        if (v.IsNull() || v.IsUndefined()) break;
        [[fallthrough]];
      case Kind::F32: {
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
          throw typeError(p.kind == Kind::OptF32 ? "a Float32Array or null" : "a Float32Array");
        auto a = v.As<Napi::Float32Array>();
        args[i].f = a.Data();
        args[i].len = a.ElementLength();
        if (refs) refs->push_back(Napi::Persistent(v.As<Napi::Object>()));
        break;
      }
      case Kind::I32: {
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
          throw typeError("an Int32Array");
        auto a = v.As<Napi::Int32Array>();
        args[i].i = a.Data();
        args[i].len = a.ElementLength();
        if (refs) refs->push_back(Napi::Persistent(v.As<Napi::Object>()));
        break;
      }
      case Kind::Int: {
        if (!v.IsNumber()) throw typeError("a number");
        double d = v.As<Napi::Number>().DoubleValue();
        if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 2147483647.0)
          throw Napi::RangeError::New(env, name + ": '" + p.name + "' must be a non-negative 32-bit integer, got " +
                                               v.ToString().Utf8Value());
        args[i].num = d;
        break;
      }
      case Kind::Num: {
        if (!v.IsNumber()) throw typeError("a number");
        double d = v.As<Napi::Number>().DoubleValue();
        if (!std::isfinite(d)) throw Napi::RangeError::New(env, name + ": '" + p.name + "' must be finite");
        args[i].num = d;
        break;
      }
    }
  }
  try {
    k.check(args);
  } catch (const BadArgument& e) {
    throw Napi::RangeError::New(env, e.message);
  }
  return k;
}

std::vector<Napi::Value> Values(const Napi::CallbackInfo& info) {
  std::vector<Napi::Value> values;
  for (size_t i = 0; i < info.Length(); i++) values.push_back(info[i]);
  return values;
}

Napi::Value RunSync(const Napi::CallbackInfo& info) {
  Args args;
  const Kernel& k = Prepare(info.Env(), Values(info), args, nullptr);
  return Napi::Number::New(info.Env(), k.run(args));
}

struct Call {
  const Kernel* kernel;
  Args args;
};

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
    for (const Call& c : calls_) results_.push_back(c.kernel->run(c.args));
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
  calls[0].kernel = &Prepare(info.Env(), Values(info), calls[0].args, &refs);
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
    calls[i].kernel = &Prepare(env, values, calls[i].args, &refs);
  }
  auto* worker = new ProgramWorker(env, std::move(calls), std::move(refs), false);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value Signatures(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  for (const auto& [name, entry] : Kernels()) out.Set(name, entry.first);
  return out;
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  exports.Set("runSync", Napi::Function::New(env, RunSync, "runSync"));
  exports.Set("run", Napi::Function::New(env, RunAsync, "run"));
  exports.Set("runProgram", Napi::Function::New(env, RunProgram, "runProgram"));
  exports.Set("kernelSignatures", Napi::Function::New(env, Signatures, "kernelSignatures"));
}

}  // namespace troupe
