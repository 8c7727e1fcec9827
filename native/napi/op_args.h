// Argument helpers shared by op families on top of OpCall: rank bounds, Int32 index and offsets
// validation (so that no out-of-range index ever reaches an op), and optional outputs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "op_registry.h"

namespace amae::napi {

// A required input of the given dtype with at least min_ndim dimensions.
inline Tensor input_min_rank(const OpCall& c, const std::string& name, DType dtype, int min_ndim) {
  Tensor t = c.input_any_rank(name, dtype);
  if (t.ndim < min_ndim)
    c.fail_range("inputs." + name + " must have at least " + std::to_string(min_ndim) + " dimensions, got shape " +
                 t.shape_str());
  return t;
}

// RangeError unless every value of an Int32 input lies in [0, limit); names the first offender by
// its flat position. `what` says what the indices point into.
// Device data is not readable here: run() repeating a check on a device copy skips it (prepare()
// checked the host snapshot the copy was made from).
inline void expect_indices(const OpCall& c, const std::string& name, const Tensor& t, int64_t limit,
                           const std::string& what) {
  if (t.device != Device::CPU) return;
  const int32_t* p = t.i32();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= limit)
      c.fail_range("inputs." + name + "[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
                   " is out of range [0, " + std::to_string(limit) + ") (" + what + ")");
}

// RangeError unless an Int32 offsets input [nseg + 1] starts at 0, ends at `total` and increases
// (strictly unless `allow_empty`: packed sequences may hold empty segments, contrast groups not).
inline void expect_offsets(const OpCall& c, const std::string& name, const Tensor& t, int64_t total,
                           const std::string& what, bool allow_empty = false) {
  if (t.device != Device::CPU) return;  // checked on the host snapshot (see expect_indices)
  const int32_t* p = t.i32();
  const int64_t n = t.numel();
  const std::string at = "inputs." + name;
  if (n < 2) c.fail_range(at + " must hold nseg + 1 >= 2 values, got shape " + t.shape_str());
  if (p[0] != 0) c.fail_range(at + "[0] = " + std::to_string(p[0]) + " must be 0");
  for (int64_t i = 1; i < n; ++i)
    if (p[i] < p[i - 1] || (!allow_empty && p[i] == p[i - 1]))
      c.fail_range(at + "[" + std::to_string(i) + "] = " + std::to_string(p[i]) + " must be " +
                   (allow_empty ? "at least " : "greater than ") + at + "[" + std::to_string(i - 1) +
                   "] = " + std::to_string(p[i - 1]) + (allow_empty ? "" : " (every segment non-empty)"));
  if (p[n - 1] != total)
    c.fail_range(at + "[" + std::to_string(n - 1) + "] = " + std::to_string(p[n - 1]) + " must be " +
                 std::to_string(total) + " (" + what + ")");
}

// A boolean attribute (JS true/false arrive as 1/0; any other number is a TypeError).
inline bool flag(const OpCall& c, const std::string& name, bool fallback) {
  if (!c.has_attr(name)) return fallback;
  const double v = c.num_attr(name);
  if (v != 0.0 && v != 1.0) type_error(c.op_ + ": attrs." + name + " must be a boolean");
  return v == 1.0;
}

// Backward ops compute the gradient output <name> (dx, dw, …) unless attrs.<name> is false.
inline bool wants(const OpCall& c, const std::string& name) { return flag(c, name, true); }

// The output if prepare declared it, else an absent tensor (data == nullptr) that ops skip.
inline Tensor optional_output(const OpCall& c, const std::string& name) {
  auto it = c.outputs_.find(name);
  return it == c.outputs_.end() ? Tensor() : it->second;
}

// dims with dim 0 replaced: the shape of `rows` rows shaped like t's.
inline std::vector<int64_t> with_rows(const Tensor& t, int64_t rows) {
  std::vector<int64_t> d = dims_of(t);
  d[0] = rows;
  return d;
}

}  // namespace amae::napi
