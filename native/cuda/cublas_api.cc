// dlopen of libcublas: the backend needs no cuBLAS at build time, only where it runs.
#include "cublas_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "cuda_check.h"

namespace troupe::cuda {

namespace {

template <typename F>
void Resolve(void* lib, const char* name, F& fn, bool required = true) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (fn == nullptr && required) throw CudaFailure(std::string("cuBLAS: missing symbol ") + name);
}

CublasApi Load() {
  std::vector<std::string> names;
  if (const char* env = std::getenv("TROUPE_CUBLAS_LIB")) names.push_back(env);
  for (const char* n : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) names.push_back(n);
  std::string tried;
  void* lib = nullptr;
  std::string path;
  for (const std::string& n : names) {
    lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      path = n;
      break;
    }
    const char* err = dlerror();
    tried += "\n  " + n + ": " + (err ? err : "not found");
  }
  if (lib == nullptr) throw CudaFailure("cannot load cuBLAS (set TROUPE_CUBLAS_LIB or LD_LIBRARY_PATH); tried:" + tried);
  CublasApi api{};
  Resolve(lib, "cublasCreate_v2", api.Create);
  Resolve(lib, "cublasDestroy_v2", api.Destroy);
  Resolve(lib, "cublasSetStream_v2", api.SetStream);
  Resolve(lib, "cublasSetWorkspace_v2", api.SetWorkspace);
  Resolve(lib, "cublasSetMathMode", api.SetMathMode);
  Resolve(lib, "cublasGetVersion_v2", api.GetVersion);
  Resolve(lib, "cublasGemmEx", api.GemmEx);
  Resolve(lib, "cublasGemmStridedBatchedEx", api.GemmStridedBatchedEx);
  Resolve(lib, "cublasGetStatusString", api.GetStatusString, false);
  api.path = path;
  return api;
}

}  // namespace

const CublasApi& Cublas() {
  static const CublasApi api = Load();  // a failed load throws and is retried on the next call
  return api;
}

void CheckBlas(cublasStatus_t status, const char* what) {
  if (status == 0) return;
  const CublasApi& api = Cublas();
  std::string text = api.GetStatusString ? api.GetStatusString(status) : "status " + std::to_string(status);
  throw CudaFailure(std::string("cuBLAS: ") + what + ": " + text);
}

}  // namespace troupe::cuda
