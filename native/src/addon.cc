#include "addon.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  troupe::RegisterMemory(env, exports);
  troupe::RegisterBlas(env, exports);
  troupe::RegisterKernels(env, exports);
  return exports;
}

NODE_API_MODULE(troupe_native, Init)
