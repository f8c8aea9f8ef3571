// The CUDA backend's kernels by name: each runs one registry kernel on device arguments, composing the launchers
// of device_kernels.h and the cuBLAS GEMMs; a scalar result goes to a device double.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "context.h"

namespace troupe::cuda {

// One argument on the device: f / i are device pointers; hostI keeps an i32 array's host copy (token ids are
// host data, some kernels plan on the host from them); num is an int or num argument.
struct DevArg {
  float* f = nullptr;
  int32_t* i = nullptr;
  const int32_t* hostI = nullptr;
  size_t len = 0;
  double num = 0;
};
using DevArgs = std::vector<DevArg>;

// `result` points to this call's device double (written by kernels that return a value, else left at 0).
using CudaRunFn = std::function<void(Context&, const DevArgs&, double* result)>;

// Run functions in KernelEntries() order; empty where this backend lacks the kernel.
const std::vector<CudaRunFn>& CudaRunTable();

}  // namespace troupe::cuda
