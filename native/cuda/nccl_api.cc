// dlopen of libnccl.
#include "nccl_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "cuda_check.h"

namespace troupe::cuda {

namespace {

template <typename F>
void Resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (fn == nullptr) throw CudaFailure(std::string("NCCL: missing symbol ") + name);
}

NcclApi Load() {
  std::vector<std::string> names;
  if (const char* env = std::getenv("TROUPE_NCCL_LIB")) names.push_back(env);
  names.push_back("libnccl.so.2");
  names.push_back("libnccl.so");
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
  if (lib == nullptr) throw CudaFailure("cannot load NCCL (set TROUPE_NCCL_LIB or LD_LIBRARY_PATH); tried:" + tried);
  NcclApi api{};
  Resolve(lib, "ncclGetVersion", api.GetVersion);
  Resolve(lib, "ncclGetUniqueId", api.GetUniqueId);
  Resolve(lib, "ncclCommInitRank", api.CommInitRank);
  Resolve(lib, "ncclCommAbort", api.CommAbort);
  Resolve(lib, "ncclCommDestroy", api.CommDestroy);
  Resolve(lib, "ncclCommGetAsyncError", api.CommGetAsyncError);
  Resolve(lib, "ncclGetErrorString", api.GetErrorString);
  Resolve(lib, "ncclSend", api.Send);
  Resolve(lib, "ncclRecv", api.Recv);
  Resolve(lib, "ncclGroupStart", api.GroupStart);
  Resolve(lib, "ncclGroupEnd", api.GroupEnd);
  api.path = path;
  return api;
}

}  // namespace

const NcclApi& Nccl() {
  static const NcclApi api = Load();
  return api;
}

void CheckNccl(ncclResult_t r, const char* what) {
  if (r == kNcclSuccess) return;
  throw CudaFailure(std::string("NCCL: ") + what + ": " + Nccl().GetErrorString(r));
}

}  // namespace troupe::cuda
