// Device memory behind host arrays. alloc(n) gives JavaScript an ordinary Float32Array (the host twin) and keeps
// an equally long cudaMalloc buffer (the device twin); kernels and NCCL use the device twin of any view into it.
// The twins are not kept coherent: the data lives on the device, and copies happen only where the caller asks
// (upload/download: data in, checkpoints and state transfer out). Arrays the backend did not allocate are
// "foreign": a call copies them in before its kernel and out after it (correct, slow; counted in Stats).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace troupe::cuda {

class DeviceMemory {
 public:
  static DeviceMemory& Get();
  // Zero-filled host and device memory of `bytes` (host: anonymous pages, faulted in only when touched).
  // Returns the host address; the device twin is registered under it.
  void* Allocate(size_t bytes);
  void Free(void* host);
  // The device address of host range [p, p + bytes) when it lies inside one allocation, else nullptr.
  void* DeviceOf(const void* p, size_t bytes);

 private:
  struct Twin {
    size_t bytes;
    void* dev;
  };
  std::mutex mu_;
  std::map<uintptr_t, Twin> byHost_;
};

// Bytes copied for foreign arrays since the process started (a training step should add only its token ids).
struct Stats {
  size_t stagedIn = 0;
  size_t stagedOut = 0;
  size_t uploaded = 0;
  size_t downloaded = 0;
};
Stats& Counters();

}  // namespace troupe::cuda
