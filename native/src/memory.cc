// Native memory handed to JavaScript without copies: read-only file maps and aligned buffers.
#include "addon.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace troupe {

namespace {

struct Mapping {
  void* addr;
  size_t length;
};

void UnmapFinalizer(Napi::Env, void*, Mapping* m) {
  munmap(m->addr, m->length);
  delete m;
}

// Large buffers come straight from mmap: already zero, and their pages are only touched (faulted in) by
// whoever first writes them, typically a kernel off the JS thread; so alloc() itself stays O(1).
constexpr size_t kMmapThreshold = 1 << 20;

void FreeFinalizer(Napi::Env env, void* data, size_t* bytes) {
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(*bytes));
  if (*bytes >= kMmapThreshold) {
    munmap(data, *bytes);
  } else {
    std::free(data);
  }
  delete bytes;
}

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "mapFile: 'path' must be a string");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Napi::Error::New(env, "mapFile: cannot open '" + path + "': " + std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    throw Napi::Error::New(env, "mapFile: cannot stat '" + path + "': " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    throw Napi::Error::New(env, "mapFile: '" + path + "' is not a regular file");
  }
  if (st.st_size == 0) {
    close(fd);
    throw Napi::Error::New(env, "mapFile: '" + path + "' is empty");
  }
  size_t length = static_cast<size_t>(st.st_size);
  void* addr = mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);  // the mapping keeps the file alive
  if (addr == MAP_FAILED) {
    throw Napi::Error::New(env, "mapFile: cannot map '" + path + "': " + std::strerror(e));
  }
  auto* m = new Mapping{addr, length};
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, addr, length, UnmapFinalizer, m);
  return Napi::Uint8Array::New(env, length, buf, 0);
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "alloc: 'n' must be a number");
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0) || n != static_cast<double>(static_cast<int64_t>(n)) || n > 4.0e9) {
    throw Napi::RangeError::New(env, "alloc: 'n' must be a non-negative integer below 4e9, got " + std::to_string(n));
  }
  size_t count = static_cast<size_t>(n);
  // aligned_alloc needs a size that is a multiple of the alignment, and a non-zero one.
  size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* data = nullptr;
  if (bytes >= kMmapThreshold) {
    data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) data = nullptr;
  } else {
    data = std::aligned_alloc(64, bytes);
    if (data != nullptr) std::memset(data, 0, bytes);
  }
  if (data == nullptr) {
    throw Napi::RangeError::New(env, "alloc: out of memory allocating " + std::to_string(count) + " floats");
  }
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, data, count * sizeof(float), FreeFinalizer, new size_t(bytes));
  // Tell V8 how much native memory this buffer holds so it collects dead ones in time.
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  return Napi::Float32Array::New(env, count, buf, 0);
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
}

}  // namespace troupe
