// The CUDA addon (build-cuda/troupe_cuda.node, built by scripts/gpu-build.sh): probe, configure, device-twin
// memory, the kernel registry on the device (same signatures and checks as the CPU addon), and NCCL.
#include <napi.h>

#include <string>

#include "../src/kernel_call.h"
#include "context.h"
#include "cublas_api.h"
#include "cuda_check.h"
#include "cuda_ops.h"
#include "cuda_program.h"
#include "device_memory.h"
#include "nccl_ops.h"

namespace troupe::cuda {

namespace {

// probe(): what is here, without configuring anything and without throwing.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  out.Set("devices", e == cudaSuccess ? count : 0);
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  out.Set("runtimeVersion", runtime);
  if (e != cudaSuccess) {
    cudaGetLastError();
    out.Set("reason", std::string("no usable CUDA device: ") + cudaGetErrorString(e));
    return out;
  }
  if (count == 0) {
    out.Set("reason", "no CUDA device");
    return out;
  }
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) == cudaSuccess) {
    out.Set("name", std::string(p.name));
    out.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    out.Set("memoryBytes", static_cast<double>(p.totalGlobalMem));
    out.Set("multiprocessors", p.multiProcessorCount);
  }
  try {
    out.Set("cublas", Cublas().path);
  } catch (const std::exception& err) {
    out.Set("reason", std::string(err.what()));
  }
  return out;
}

// configure(device, "fp32" | "bf16").
Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsString())
    throw Napi::TypeError::New(env, "configure: expects (device: number, precision: 'fp32' | 'bf16')");
  std::string p = info[1].As<Napi::String>().Utf8Value();
  if (p != "fp32" && p != "bf16") throw Napi::RangeError::New(env, "configure: precision must be 'fp32' or 'bf16', got '" + p + "'");
  Context::Configure(info[0].As<Napi::Number>().Int32Value(), p == "fp32" ? Precision::Fp32 : Precision::Bf16);
  return env.Undefined();
}

void FreeTwin(Napi::Env env, void* host, size_t* bytes) {
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(*bytes));
  DeviceMemory::Get().Free(host);
  delete bytes;
}

// alloc(n): a zero-filled Float32Array whose device twin kernels use.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "alloc: 'n' must be a number");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0) || n != static_cast<double>(static_cast<int64_t>(n)) || n > 4.0e9)
    throw Napi::RangeError::New(env, "alloc: 'n' must be a non-negative integer below 4e9, got " + std::to_string(n));
  size_t count = static_cast<size_t>(n);
  if (count == 0) return Napi::Float32Array::New(env, 0);
  Context::Get().Enter();
  size_t bytes = count * sizeof(float);
  void* host = DeviceMemory::Get().Allocate(bytes);
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, host, bytes, FreeTwin, new size_t(bytes));
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  return Napi::Float32Array::New(env, count, buf, 0);
}

// isDeviceArray(a): whether `a` is (a view of) memory from alloc.
Napi::Value IsDeviceArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) return Napi::Boolean::New(env, false);
  auto a = info[0].As<Napi::TypedArray>();
  void* data = static_cast<char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return Napi::Boolean::New(env, a.ByteLength() > 0 && DeviceMemory::Get().DeviceOf(data, a.ByteLength()) != nullptr);
}

Napi::Value GetStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  const Stats& s = Counters();
  out.Set("stagedIn", static_cast<double>(s.stagedIn));
  out.Set("stagedOut", static_cast<double>(s.stagedOut));
  out.Set("uploaded", static_cast<double>(s.uploaded));
  out.Set("downloaded", static_cast<double>(s.downloaded));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const KernelEntry& e : KernelEntries()) {
    if (!CudaRunTable()[e.index]) throw Napi::Error::New(env, std::string("kernel '") + e.rule->name + "' has no CUDA implementation");
  }
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("configure", Napi::Function::New(env, Configure, "configure"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("isDeviceArray", Napi::Function::New(env, IsDeviceArray, "isDeviceArray"));
  exports.Set("upload", Napi::Function::New(env, Upload, "upload"));
  exports.Set("download", Napi::Function::New(env, Download, "download"));
  exports.Set("stats", Napi::Function::New(env, GetStats, "stats"));
  exports.Set("kernelSignatures", Napi::Function::New(env, KernelSignatures, "kernelSignatures"));
  exports.Set("checkCall", Napi::Function::New(env, CheckCall, "checkCall"));
  exports.Set("runSync", Napi::Function::New(env, RunSync, "runSync"));
  exports.Set("run", Napi::Function::New(env, RunAsync, "run"));
  exports.Set("runProgram", Napi::Function::New(env, RunProgram, "runProgram"));
  RegisterNccl(env, exports);
  return exports;
}

}  // namespace

}  // namespace troupe::cuda

static Napi::Object InitTroupeCuda(Napi::Env env, Napi::Object exports) { return troupe::cuda::Init(env, exports); }

NODE_API_MODULE(troupe_cuda, InitTroupeCuda)
