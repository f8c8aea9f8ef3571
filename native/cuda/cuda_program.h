// Running checked kernel calls on the device: array arguments become device twins or staged copies, each call
// runs on the context's stream, and a program resolves once the device has finished it.
#pragma once
#include <napi.h>

namespace troupe::cuda {

// runSync(name, ...args), run(name, ...args) → Promise<number>, runProgram([[name, ...args], ...]) → Promise<Float64Array>.
Napi::Value RunSync(const Napi::CallbackInfo& info);
Napi::Value RunAsync(const Napi::CallbackInfo& info);
Napi::Value RunProgram(const Napi::CallbackInfo& info);
// upload(arrays) / download(arrays) → Promise<void>: host twin → device twin, and back.
Napi::Value Upload(const Napi::CallbackInfo& info);
Napi::Value Download(const Napi::CallbackInfo& info);

}  // namespace troupe::cuda
