// Kind checks of a kernel call's JavaScript values, then the size rules of the generated table.
#include "kernel_call.h"

#include <cmath>
#include <map>

namespace troupe {

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

const std::vector<KernelEntry>& KernelEntries() {
  static const auto* entries = [] {
    auto* v = new std::vector<KernelEntry>();
    for (const KernelRule& r : KernelRules()) v->push_back({v->size(), &r, ParseSignature(r.signature)});
    return v;
  }();
  return *entries;
}

const KernelEntry* FindKernel(const std::string& name) {
  static const auto* byName = [] {
    auto* m = new std::map<std::string, const KernelEntry*>();
    for (const KernelEntry& e : KernelEntries()) (*m)[e.rule->name] = &e;
    return m;
  }();
  auto it = byName->find(name);
  return it == byName->end() ? nullptr : it->second;
}

namespace {

void ReadArray(Napi::Env env, const std::string& kernel, const Param& p, Napi::Value v, Arg& arg,
               std::vector<Napi::ObjectReference>* refs) {
  auto typeError = [&](const char* want) { return Napi::TypeError::New(env, kernel + ": '" + p.name + "' must be " + want); };
  if (p.kind == Kind::I32) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) throw typeError("an Int32Array");
    auto a = v.As<Napi::Int32Array>();
    arg.i = a.Data();
    arg.len = a.ElementLength();
  } else {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw typeError(p.kind == Kind::OptF32 ? "a Float32Array or null" : "a Float32Array");
    auto a = v.As<Napi::Float32Array>();
    arg.f = a.Data();
    arg.len = a.ElementLength();
  }
  if (refs) refs->push_back(Napi::Persistent(v.As<Napi::Object>()));
}

double ReadNumber(Napi::Env env, const std::string& kernel, const Param& p, Napi::Value v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, kernel + ": '" + p.name + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (p.kind == Kind::Int) {
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 2147483647.0)
      throw Napi::RangeError::New(env, kernel + ": '" + p.name + "' must be a non-negative 32-bit integer, got " +
                                           v.ToString().Utf8Value());
  } else if (!std::isfinite(d)) {
    throw Napi::RangeError::New(env, kernel + ": '" + p.name + "' must be finite");
  }
  return d;
}

}  // namespace

const KernelEntry& PrepareCall(Napi::Env env, const std::vector<Napi::Value>& values, Args& args,
                               std::vector<Napi::ObjectReference>* refs) {
  if (values.empty() || !values[0].IsString()) throw Napi::TypeError::New(env, "kernel name must be a string");
  std::string name = values[0].As<Napi::String>().Utf8Value();
  const KernelEntry* k = FindKernel(name);
  if (k == nullptr) throw Napi::Error::New(env, "unknown kernel '" + name + "'");
  if (values.size() - 1 != k->params.size()) {
    throw Napi::TypeError::New(env, name + ": expects " + std::to_string(k->params.size()) + " arguments (" +
                                        k->rule->signature + "), got " + std::to_string(values.size() - 1));
  }
  args.assign(k->params.size(), Arg{});
  for (size_t i = 0; i < k->params.size(); i++) {
    const Param& p = k->params[i];
    Napi::Value v = values[i + 1];
    if (p.kind == Kind::OptF32 && (v.IsNull() || v.IsUndefined())) continue;
    if (p.kind == Kind::Int || p.kind == Kind::Num) {
      args[i].num = ReadNumber(env, name, p, v);
    } else {
      ReadArray(env, name, p, v, args[i], refs);
    }
  }
  try {
    k->rule->check(Checker(name, k->params, args));
  } catch (const BadArgument& e) {
    throw Napi::RangeError::New(env, e.message);
  }
  return *k;
}

std::vector<Napi::Value> CallValues(const Napi::CallbackInfo& info) {
  std::vector<Napi::Value> values;
  for (size_t i = 0; i < info.Length(); i++) values.push_back(info[i]);
  return values;
}

Napi::Value KernelSignatures(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  for (const KernelEntry& e : KernelEntries()) out.Set(e.rule->name, e.rule->signature);
  return out;
}

Napi::Value CheckCall(const Napi::CallbackInfo& info) {
  Args args;
  PrepareCall(info.Env(), CallValues(info), args, nullptr);
  return info.Env().Undefined();
}

}  // namespace troupe
