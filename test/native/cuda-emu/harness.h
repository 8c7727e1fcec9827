// The shared test harness of the emulated CUDA checks: device buffers, random inputs, comparisons
// with the CPU ops, and the per-family registration (EMU_FAMILY) that main.cpp and sync.mjs's
// coverage check use.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "native/core/tensor.h"

namespace emu_test {

using namespace amae;
using F = std::vector<float>;
using I = std::vector<int32_t>;
using Shape = std::initializer_list<int64_t>;

extern std::mt19937 rng;
extern int failures, checks;

F rnd(int64_t n, float lo = -1, float hi = 1);
F nans(int64_t n);  // the poison an overwritten output starts from
I rnd_int(int64_t n, int lo, int hi);  // uniform in [lo, hi]

// A device copy of a host vector (nullptr data when empty, as the binding hands empty arrays).
template <class T>
struct Dev {
  T* p = nullptr;
  int64_t n = 0;
  Dev() = default;
  explicit Dev(const std::vector<T>& h) : n(int64_t(h.size())) {
    if (n == 0) return;
    p = static_cast<T*>(emu::dev_alloc(sizeof(T) * size_t(n)));
    emu::DeviceAccess a;
    std::memcpy(p, h.data(), sizeof(T) * size_t(n));
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { emu::dev_free(p); }
  std::vector<T> get() const {
    std::vector<T> h(static_cast<size_t>(n));
    emu::DeviceAccess a;
    if (n) std::memcpy(h.data(), p, sizeof(T) * size_t(n));
    return h;
  }
  Tensor t(Shape s) const {
    return Tensor(p, s, std::is_same_v<T, float> ? DType::F32 : DType::I32, Device::CUDA);
  }
};
using DF = Dev<float>;
using DI = Dev<int32_t>;

// A CPU tensor over a host vector (nullptr data when empty).
template <class T>
Tensor host(std::vector<T>& v, Shape s) {
  return Tensor(v.empty() ? nullptr : v.data(), s, std::is_same_v<T, float> ? DType::F32 : DType::I32, Device::CPU);
}

// One argument of an op on both backends: the host vector the CPU op runs on and its device copy
// the CUDA op runs on, both starting from the same values. c()/g() give the CPU/CUDA tensor;
// same() compares what the CUDA op left with what the CPU op left.
template <class T>
struct Pair {
  std::vector<T> h;
  Dev<T> d;
  explicit Pair(const std::vector<T>& v) : h(v), d(v) {}
  Tensor c(Shape s) { return host(h, s); }
  Tensor g(Shape s) const { return d.t(s); }
  T* hp() { return h.empty() ? nullptr : h.data(); }
  T* dp() const { return d.p; }
};
using PF = Pair<float>;
using PI = Pair<int32_t>;

// got vs want, element-wise relative error |a − b| / (floor + |b|) ≤ tol; NaN must meet NaN and
// ±Inf the same Inf. tol = 0 asks for bitwise-equal floats. A larger floor suits sums that
// cancel (a column sum of random signs can land near 0 while its terms are O(1)).
void cmp(const std::string& what, const F& got, const F& want, double tol = 1e-4, double floor = 1e-3);
void cmp(const std::string& what, const I& got, const I& want);
void cmp(const std::string& what, double got, double want, double tol = 1e-4);
void expect(const std::string& what, bool ok, const std::string& detail = "");
inline void same(const std::string& what, const PF& p, double tol = 1e-4, double floor = 1e-3);
inline void same(const std::string& what, const PI& p);
// Runs one case, turning an exception into a FAIL line.
void run(const std::string& what, const std::function<void()>& fn);
std::string fmt(const char* f, ...);

struct Family {
  const char* name;
  void (*fn)();
  Family(const char* n, void (*f)());
};
#define EMU_FAMILY(name)                                          \
  static void emu_family_##name();                                \
  static ::emu_test::Family emu_family_reg_##name(#name, emu_family_##name); \
  static void emu_family_##name()

inline void same(const std::string& what, const PF& p, double tol, double floor) { cmp(what, p.d.get(), p.h, tol, floor); }
inline void same(const std::string& what, const PI& p) { cmp(what, p.d.get(), p.h); }

}  // namespace emu_test
