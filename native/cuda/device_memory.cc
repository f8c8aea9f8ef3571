// Host twins from mmap, device twins from cudaMalloc, and the interval map between them.
#include "device_memory.h"

#include <sys/mman.h>

#include "cuda_check.h"

namespace troupe::cuda {

DeviceMemory& DeviceMemory::Get() {
  static auto* m = new DeviceMemory();
  return *m;
}

void* DeviceMemory::Allocate(size_t bytes) {
  void* host = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (host == MAP_FAILED) throw CudaFailure("alloc: out of host memory for " + std::to_string(bytes) + " bytes");
  // Zeroed on a stream of its own and waited for: the memory is then zero for every stream (the kernels' and
  // each NCCL communicator's), which a plain cudaMemset on the legacy stream would not promise.
  static cudaStream_t zeroing = [] {
    cudaStream_t s = nullptr;
    TROUPE_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }();
  void* dev = nullptr;
  cudaError_t e = cudaMalloc(&dev, bytes);
  if (e == cudaSuccess) e = cudaMemsetAsync(dev, 0, bytes, zeroing);
  if (e == cudaSuccess) e = cudaStreamSynchronize(zeroing);
  if (e != cudaSuccess) {
    if (dev != nullptr) cudaFree(dev);
    munmap(host, bytes);
    cudaGetLastError();  // clear the error so the next call does not see it
    throw CudaFailure("alloc: cannot allocate " + std::to_string(bytes) + " bytes of device memory: " + cudaGetErrorString(e));
  }
  std::lock_guard<std::mutex> lock(mu_);
  byHost_[reinterpret_cast<uintptr_t>(host)] = Twin{bytes, dev};
  return host;
}

void DeviceMemory::Free(void* host) {
  Twin twin{};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = byHost_.find(reinterpret_cast<uintptr_t>(host));
    if (it == byHost_.end()) return;
    twin = it->second;
    byHost_.erase(it);
  }
  cudaFree(twin.dev);  // implicitly waits for kernels still using it (none: calls pin their arrays)
  munmap(host, twin.bytes);
}

void* DeviceMemory::DeviceOf(const void* p, size_t bytes) {
  auto addr = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = byHost_.upper_bound(addr);
  if (it == byHost_.begin()) return nullptr;
  --it;
  uintptr_t offset = addr - it->first;
  if (offset + bytes > it->second.bytes) return nullptr;
  return static_cast<char*>(it->second.dev) + offset;
}

Stats& Counters() {
  static Stats s;
  return s;
}

}  // namespace troupe::cuda
