// The NCCL functions the collectives call, declared here (values as in nccl.h 2.x) and resolved with dlopen at run
// time: the addon builds without NCCL headers and loads libnccl only when a communicator is made.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace troupe::cuda {

using ncclComm_t = struct ncclComm*;
using ncclResult_t = int;  // ncclSuccess = 0, ncclInProgress = 7
constexpr ncclResult_t kNcclSuccess = 0, kNcclInProgress = 7;
constexpr int kNcclFloat32 = 7;  // ncclDataType_t
struct ncclUniqueId {
  char internal[128];
};

struct NcclApi {
  ncclResult_t (*GetVersion)(int*);
  ncclResult_t (*GetUniqueId)(ncclUniqueId*);
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int);
  ncclResult_t (*CommAbort)(ncclComm_t);
  ncclResult_t (*CommDestroy)(ncclComm_t);
  ncclResult_t (*CommGetAsyncError)(ncclComm_t, ncclResult_t*);
  const char* (*GetErrorString)(ncclResult_t);
  ncclResult_t (*Send)(const void*, size_t, int, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*Recv)(void*, size_t, int, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*GroupStart)();
  ncclResult_t (*GroupEnd)();
  std::string path;
};

// Loads libnccl once (TROUPE_NCCL_LIB if set, else libnccl.so.2 / libnccl.so); throws CudaFailure on failure.
const NcclApi& Nccl();
void CheckNccl(ncclResult_t r, const char* what);

}  // namespace troupe::cuda
