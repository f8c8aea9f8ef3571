// NCCL communicators and the collectives on device twins, for runtime/collectives/nccl-collectives.ts.
#pragma once
#include <napi.h>

namespace troupe::cuda {

void RegisterNccl(Napi::Env env, Napi::Object exports);

}  // namespace troupe::cuda
