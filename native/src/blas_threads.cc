// BLAS thread count: one thread per worker process by default, so ranks on one host do not oversubscribe.
#include <cblas.h>

#include "addon.h"

namespace troupe {

namespace {

Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "setBlasThreads: 'n' must be a number");
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1) || n != static_cast<double>(static_cast<int>(n)) || n > 1024) {
    throw Napi::RangeError::New(env, "setBlasThreads: 'n' must be an integer in [1, 1024]");
  }
  openblas_set_num_threads(static_cast<int>(n));
  return env.Undefined();
}

Napi::Value GetBlasThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

Napi::Value BlasConfig(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), openblas_get_config());
}

}  // namespace

void RegisterBlas(Napi::Env env, Napi::Object exports) {
  openblas_set_num_threads(1);
  exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads, "setBlasThreads"));
  exports.Set("getBlasThreads", Napi::Function::New(env, GetBlasThreads, "getBlasThreads"));
  exports.Set("blasConfig", Napi::Function::New(env, BlasConfig, "blasConfig"));
}

}  // namespace troupe
