// Declarations shared by the addon's translation units.
#pragma once
#include <napi.h>

namespace troupe {
void RegisterMemory(Napi::Env env, Napi::Object exports);
void RegisterBlas(Napi::Env env, Napi::Object exports);
void RegisterKernels(Napi::Env env, Napi::Object exports);
}  // namespace troupe
