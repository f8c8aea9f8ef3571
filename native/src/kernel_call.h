// From JavaScript values to checked kernel arguments: the one entry point through which both addons (CPU and CUDA)
// accept a kernel call. Kinds are checked here (TypeError/RangeError), sizes by the generated rule table.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "kernel_args.h"

namespace troupe {

struct KernelEntry {
  size_t index;  // position in KernelRules(); backends keep their run functions in the same order
  const KernelRule* rule;
  std::vector<Param> params;
};

// Every kernel of the rule table, in its order.
const std::vector<KernelEntry>& KernelEntries();

// The entry named `name`, or nullptr.
const KernelEntry* FindKernel(const std::string& name);

// Validates `values` = [name, ...arguments] and fills `args`; pins the arrays in `refs` when given (async use).
// Throws Napi::TypeError / Napi::RangeError / Napi::Error naming the kernel and the argument.
const KernelEntry& PrepareCall(Napi::Env env, const std::vector<Napi::Value>& values, Args& args,
                               std::vector<Napi::ObjectReference>* refs);

// The arguments of a JS call as a vector.
std::vector<Napi::Value> CallValues(const Napi::CallbackInfo& info);

// kernelSignatures(): { name: signature } for every kernel of the rule table.
Napi::Value KernelSignatures(const Napi::CallbackInfo& info);

// checkCall(name, ...args): validates without running; throws as a run would.
Napi::Value CheckCall(const Napi::CallbackInfo& info);

}  // namespace troupe
