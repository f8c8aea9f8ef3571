// Kernel arguments as the addons see them, and the checks that the generated rule table (kernel_rules.gen.cc,
// rendered from native/kernel-specs.ts) runs on them. Shared by the CPU addon and the CUDA addon.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

namespace troupe {

enum class Kind { F32, OptF32, I32, Int, Num };

struct Param {
  std::string name;
  Kind kind;
};

// One argument: an array (host pointer and length; f or i) or a number. An absent optional array has f == nullptr.
struct Arg {
  float* f = nullptr;
  int32_t* i = nullptr;
  size_t len = 0;
  double num = 0;
};

using Args = std::vector<Arg>;

// Thrown by checks; becomes a JS RangeError.
struct BadArgument {
  std::string message;
};

std::vector<Param> ParseSignature(const std::string& sig);

// The checks a rule table entry may call. Every message is the op layer's (native/kernel-rules.ts), word for word.
class Checker {
 public:
  Checker(const std::string& kernel, const std::vector<Param>& params, const Args& args)
      : kernel_(kernel), params_(params), args_(args) {}
  // Integer (and number) arguments as doubles: size expressions cannot overflow, as in TypeScript.
  double I(int idx) const { return args_[idx].num; }
  void Positive(int idx) const {
    if (!(I(idx) > 0)) Fail(idx, "must be positive, got " + Format(I(idx)));
  }
  // Array `idx` must hold at least `count` elements (skipped when an optional array is absent).
  void Need(int idx, double count, const char* formula) const {
    const Arg& a = args_[idx];
    if (params_[idx].kind == Kind::OptF32 && a.f == nullptr) return;
    if (static_cast<double>(a.len) < count) {
      Fail(idx, "has " + std::to_string(a.len) + " elements, needs " + Format(count) + " (" + formula + ")");
    }
  }
  void Bound(bool ok, int idx, const char* message) const {
    if (!ok) Fail(idx, message);
  }
  void Uint32(int idx) const {
    double v = I(idx);
    if (!(v >= 0 && v <= 4294967295.0 && v == static_cast<double>(static_cast<int64_t>(v)))) {
      Fail(idx, "must be a 32-bit unsigned integer");
    }
  }
  // The first `count` values of i32 array `idx` must lie in [0, limit).
  void Tokens(int idx, double count, double limit) const {
    const int32_t* t = args_[idx].i;
    for (size_t r = 0; static_cast<double>(r) < count; r++) {
      if (t[r] < 0 || t[r] >= limit) {
        Fail(idx, "has value " + std::to_string(t[r]) + " at index " + std::to_string(r) + ", outside [0, " +
                      Format(limit) + ")");
      }
    }
  }

 private:
  [[noreturn]] void Fail(int idx, const std::string& what) const {
    throw BadArgument{kernel_ + ": '" + params_[idx].name + "' " + what};
  }
  // Integers as JavaScript prints them (exactly, below 1e21).
  static std::string Format(double v) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(0) << v;
    return os.str();
  }
  const std::string& kernel_;
  const std::vector<Param>& params_;
  const Args& args_;
};

struct KernelRule {
  const char* name;
  const char* signature;
  std::function<void(const Checker&)> check;
};

// Every kernel's name, signature and checks, in kernel-specs.ts order (defined in kernel_rules.gen.cc).
const std::vector<KernelRule>& KernelRules();

}  // namespace troupe
