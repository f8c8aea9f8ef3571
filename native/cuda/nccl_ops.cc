// Collectives over NCCL point-to-point transfers, with the reductions done by our own kernel in group-rank order
// (((x0 ∘ x1) ∘ x2) …, as the TCP backend does), so results do not depend on NCCL's algorithm or protocol choice
// and equal the CPU backend's bit for bit. Each communicator has its own stream and scratch memory, so groups
// whose operations interleave differently on different ranks cannot block each other; the caller issues one
// communicator's operations in order and awaits the kernels that produce their input first (JS promises do
// both). An operation is waited for by polling, so ncclCommAbort from the JS thread (a peer died) ends it.
#include "nccl_ops.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "context.h"
#include "cuda_check.h"
#include "device_kernels.h"
#include "device_memory.h"
#include "nccl_api.h"

namespace troupe::cuda {

namespace {

struct Comm {
  ncclComm_t comm = nullptr;
  int size = 0, rank = 0;
  std::atomic<bool> closed{false};
  cudaStream_t stream = nullptr;
  float* scratch = nullptr;
  size_t scratchFloats = 0;

  float* Scratch(size_t floats) {
    if (floats > scratchFloats) {
      if (scratch != nullptr) TROUPE_CUDA(cudaFreeAsync(scratch, stream));
      scratch = nullptr;
      TROUPE_CUDA(cudaMallocAsync(reinterpret_cast<void**>(&scratch), floats * sizeof(float), stream));
      scratchFloats = floats;
    }
    return scratch;
  }
  void Release() {
    if (scratch != nullptr) cudaFreeAsync(scratch, stream);
    if (stream != nullptr) cudaStreamDestroy(stream);
    scratch = nullptr;
    stream = nullptr;
  }
};

// [start, length) of member i's chunk, as runtime/collectives/reduce.ts chunkBounds.
std::pair<size_t, size_t> Chunk(size_t n, int parts, int i) {
  size_t base = n / parts, extra = n % parts, ui = static_cast<size_t>(i);
  return {ui * base + std::min(ui, extra), base + (ui < extra ? 1 : 0)};
}

void WaitOrAbort(Comm& c) {
  for (;;) {
    cudaError_t q = cudaStreamQuery(c.stream);
    if (q == cudaSuccess) return;
    if (q != cudaErrorNotReady) Check(q, "NCCL collective");
    if (c.closed) throw CudaFailure("NCCL: the communicator was aborted");
    ncclResult_t async = kNcclSuccess;
    CheckNccl(Nccl().CommGetAsyncError(c.comm, &async), "ncclCommGetAsyncError");
    if (async != kNcclSuccess && async != kNcclInProgress) CheckNccl(async, "asynchronous error");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Sends and receives in one NCCL group (all of them progress together, so no ordering deadlock).
struct Transfer {
  const float* send;
  float* recv;
  size_t sendCount, recvCount;
  int peer;
};
void Exchange(Comm& c, const std::vector<Transfer>& ts) {
  const NcclApi& api = Nccl();
  CheckNccl(api.GroupStart(), "ncclGroupStart");
  for (const Transfer& t : ts) {
    if (t.sendCount > 0) CheckNccl(api.Send(t.send, t.sendCount, kNcclFloat32, t.peer, c.comm, c.stream), "ncclSend");
    if (t.recvCount > 0) CheckNccl(api.Recv(t.recv, t.recvCount, kNcclFloat32, t.peer, c.comm, c.stream), "ncclRecv");
  }
  CheckNccl(api.GroupEnd(), "ncclGroupEnd");
}

float* DeviceArray(Napi::Env env, Napi::Value v, const char* what, size_t* length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  *length = a.ElementLength();
  if (*length == 0) return nullptr;
  void* d = DeviceMemory::Get().DeviceOf(a.Data(), *length * 4);
  if (d == nullptr) throw Napi::TypeError::New(env, std::string(what) + " was not allocated by the CUDA backend");
  return static_cast<float*>(d);
}

Comm& CommOf(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(env, "expects an NCCL communicator");
  Comm* c = v.As<Napi::External<Comm>>().Data();
  if (c->closed) throw Napi::Error::New(env, "NCCL: the communicator is closed");
  return *c;
}

// Runs `body` on a worker thread, then waits for the communicator's stream.
class NcclWorker : public Napi::AsyncWorker {
 public:
  NcclWorker(Napi::Env env, Napi::Value comm, std::vector<Napi::Value> pins, std::function<void(Comm&)> body)
      : Napi::AsyncWorker(env, "troupe.nccl"), comm_(&CommOf(env, comm)), body_(std::move(body)),
        deferred_(Napi::Promise::Deferred::New(env)) {
    pins.push_back(comm);
    for (Napi::Value p : pins) refs_.push_back(Napi::Persistent(p.As<Napi::Object>()));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      Context::Get().Enter();
      body_(*comm_);
      WaitOrAbort(*comm_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Comm* comm_;
  std::function<void(Comm&)> body_;
  std::vector<Napi::ObjectReference> refs_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Queue(Napi::Env env, Napi::Value comm, std::vector<Napi::Value> pins, std::function<void(Comm&)> body) {
  auto* w = new NcclWorker(env, comm, std::move(pins), std::move(body));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// Reduce-scatter by direct exchange: chunk j of every member goes to member j, which combines in rank order.
void ReduceChunks(Comm& c, const float* data, size_t n, int op, float* out) {
  auto [start, len] = Chunk(n, c.size, c.rank);
  float* others = c.Scratch(static_cast<size_t>(c.size) * len);
  std::vector<Transfer> ts;
  for (int p = 0; p < c.size; p++) {
    if (p == c.rank) continue;
    auto [ps, pl] = Chunk(n, c.size, p);
    ts.push_back({data + ps, others + static_cast<size_t>(p) * len, pl, len, p});
  }
  Exchange(c, ts);
  LaunchCombine(out, data + start, others, c.size, c.rank, len, op, c.stream);
}

Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  size_t n = 0;
  float* d = DeviceArray(info.Env(), info[1], "allReduce: data", &n);
  int op = info[2].As<Napi::Number>().Int32Value();
  return Queue(info.Env(), info[0], {info[1]}, [d, n, op](Comm& c) {
    if (n == 0) return;
    auto [start, len] = Chunk(n, c.size, c.rank);
    ReduceChunks(c, d, n, op, d + start);
    std::vector<Transfer> ts;
    for (int p = 0; p < c.size; p++) {
      if (p == c.rank) continue;
      auto [ps, pl] = Chunk(n, c.size, p);
      ts.push_back({d + start, d + ps, len, pl, p});
    }
    Exchange(c, ts);
  });
}

Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
  size_t n = 0, outLen = 0;
  float* d = DeviceArray(info.Env(), info[1], "reduceScatter: data", &n);
  int op = info[2].As<Napi::Number>().Int32Value();
  float* out = DeviceArray(info.Env(), info[3], "reduceScatter: out", &outLen);
  Comm& c = CommOf(info.Env(), info[0]);
  if (outLen != Chunk(n, c.size, c.rank).second) throw Napi::RangeError::New(info.Env(), "reduceScatter: 'out' must hold this member's chunk");
  return Queue(info.Env(), info[0], {info[1], info[3]}, [d, n, op, out](Comm& c) {
    if (n > 0) ReduceChunks(c, d, n, op, out);
  });
}

// allGather(comm, chunk, lengths, out): out = every member's chunk in rank order (lengths[i] floats each).
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = 0, outLen = 0;
  float* chunk = DeviceArray(env, info[1], "allGather: chunk", &len);
  float* out = DeviceArray(env, info[3], "allGather: out", &outLen);
  Napi::Array lengths = info[2].As<Napi::Array>();
  std::vector<size_t> offsets{0}, counts;
  for (uint32_t i = 0; i < lengths.Length(); i++) {
    counts.push_back(static_cast<size_t>(lengths.Get(i).As<Napi::Number>().DoubleValue()));
    offsets.push_back(offsets.back() + counts.back());
  }
  Comm& c = CommOf(env, info[0]);
  if (counts.size() != static_cast<size_t>(c.size) || counts[c.rank] != len || offsets.back() != outLen)
    throw Napi::RangeError::New(env, "allGather: lengths do not match the group, the chunk or 'out'");
  return Queue(env, info[0], {info[1], info[3]}, [chunk, len, out, offsets, counts](Comm& c) {
    if (len > 0) TROUPE_CUDA(cudaMemcpyAsync(out + offsets[c.rank], chunk, len * 4, cudaMemcpyDeviceToDevice, c.stream));
    std::vector<Transfer> ts;
    for (int p = 0; p < c.size; p++) {
      if (p != c.rank) ts.push_back({chunk, out + offsets[p], len, counts[p], p});
    }
    Exchange(c, ts);
  });
}

Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  size_t n = 0;
  float* d = DeviceArray(info.Env(), info[1], "broadcast: data", &n);
  int root = info[2].As<Napi::Number>().Int32Value();
  return Queue(info.Env(), info[0], {info[1]}, [d, n, root](Comm& c) {
    std::vector<Transfer> ts;
    if (c.rank == root) {
      for (int p = 0; p < c.size; p++) if (p != root) ts.push_back({d, nullptr, n, 0, p});
    } else {
      ts.push_back({nullptr, d, 0, n, root});
    }
    Exchange(c, ts);
  });
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  int v = 0;
  CheckNccl(Nccl().GetVersion(&v), "ncclGetVersion");
  return Napi::Number::New(info.Env(), v);
}

Napi::Value UniqueId(const Napi::CallbackInfo& info) {
  ncclUniqueId id{};
  CheckNccl(Nccl().GetUniqueId(&id), "ncclGetUniqueId");
  Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), sizeof(id.internal));
  std::memcpy(out.Data(), id.internal, sizeof(id.internal));
  return out;
}

void FinalizeComm(Napi::Env, Comm* c) {
  if (!c->closed.exchange(true) && c->comm != nullptr) Nccl().CommAbort(c->comm);
  c->Release();
  delete c;
}

class InitWorker : public Napi::AsyncWorker {
 public:
  InitWorker(Napi::Env env, ncclUniqueId id, int size, int rank)
      : Napi::AsyncWorker(env, "troupe.nccl.init"), id_(id), size_(size), rank_(rank),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      Context::Get().Enter();
      TROUPE_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      CheckNccl(Nccl().CommInitRank(&comm_, size_, id_, rank_), "ncclCommInitRank");
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    auto* c = new Comm();
    c->comm = comm_;
    c->size = size_;
    c->rank = rank_;
    c->stream = stream_;
    deferred_.Resolve(Napi::External<Comm>::New(Env(), c, FinalizeComm));
  }
  void OnError(const Napi::Error& e) override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    deferred_.Reject(e.Value());
  }

 private:
  ncclUniqueId id_;
  int size_, rank_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  Napi::Promise::Deferred deferred_;
};

// ncclInit(id: Uint8Array(128), size, rank) → Promise<communicator>.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsTypedArray() || info[0].As<Napi::Uint8Array>().ByteLength() != 128)
    throw Napi::TypeError::New(env, "ncclInit: expects (id: Uint8Array(128), size, rank)");
  ncclUniqueId id{};
  std::memcpy(id.internal, info[0].As<Napi::Uint8Array>().Data(), 128);
  Nccl();
  Context::Get();
  auto* w = new InitWorker(env, id, info[1].As<Napi::Number>().Int32Value(), info[2].As<Napi::Number>().Int32Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ncclAbort(comm): ends the communicator now; an operation in flight fails (called when a peer is lost).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  Comm* c = info[0].As<Napi::External<Comm>>().Data();
  if (!c->closed.exchange(true)) CheckNccl(Nccl().CommAbort(c->comm), "ncclCommAbort");
  return info.Env().Undefined();
}

// ncclDestroy(comm): orderly release once no operation is in flight.
Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Comm* c = info[0].As<Napi::External<Comm>>().Data();
  if (!c->closed.exchange(true)) {
    CheckNccl(Nccl().CommDestroy(c->comm), "ncclCommDestroy");
    c->Release();
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterNccl(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclVersion", Napi::Function::New(env, Version, "ncclVersion"));
  exports.Set("ncclUniqueId", Napi::Function::New(env, UniqueId, "ncclUniqueId"));
  exports.Set("ncclInit", Napi::Function::New(env, Init, "ncclInit"));
  exports.Set("ncclAllReduce", Napi::Function::New(env, AllReduce, "ncclAllReduce"));
  exports.Set("ncclReduceScatter", Napi::Function::New(env, ReduceScatter, "ncclReduceScatter"));
  exports.Set("ncclAllGather", Napi::Function::New(env, AllGather, "ncclAllGather"));
  exports.Set("ncclBroadcast", Napi::Function::New(env, Broadcast, "ncclBroadcast"));
  exports.Set("ncclAbort", Napi::Function::New(env, Abort, "ncclAbort"));
  exports.Set("ncclDestroy", Napi::Function::New(env, Destroy, "ncclDestroy"));
}

}  // namespace troupe::cuda
