#include "op_registry.h"

#include <cmath>

#include "../core/error.h"

namespace amae::napi {
namespace {

std::map<std::string, OpDef>& registry() {
  static std::map<std::string, OpDef> r;  // function-local: safe across static initialisers
  return r;
}

}  // namespace

void register_op(OpDef def) {
  auto name = def.name;
  registry().emplace(std::move(name), std::move(def));
}

const OpDef* find_op(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

std::vector<const OpDef*> all_ops() {
  std::vector<const OpDef*> v;
  for (auto& [_, d] : registry()) v.push_back(&d);
  return v;
}

Tensor OpCall::optional_input(const std::string& name, DType dtype, int ndim) const {
  auto it = inputs_.find(name);
  if (it == inputs_.end()) return Tensor();
  const Tensor& t = it->second;
  if (t.dtype != dtype)
    type_error(op_ + ": inputs." + name + " must be " + dtype_name(dtype) + ", got " + dtype_name(t.dtype));
  if (t.ndim != ndim)
    range_error(op_ + ": inputs." + name + " must have " + std::to_string(ndim) + " dimensions, got shape " +
                t.shape_str());
  return t;
}

Tensor OpCall::input(const std::string& name, DType dtype, int ndim) const {
  if (!has_input(name)) type_error(op_ + ": inputs." + name + " is required");
  return optional_input(name, dtype, ndim);
}

Tensor OpCall::input_any_rank(const std::string& name, DType dtype) const {
  auto it = inputs_.find(name);
  if (it == inputs_.end()) type_error(op_ + ": inputs." + name + " is required");
  return input(name, dtype, it->second.ndim);
}

int64_t OpCall::int_attr(const std::string& name) const {
  const double v = num_attr(name);
  if (v != std::floor(v) || std::fabs(v) > 9.0e15)
    type_error(op_ + ": attrs." + name + " must be an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

int64_t OpCall::int_attr(const std::string& name, int64_t fallback) const {
  return has_attr(name) ? int_attr(name) : fallback;
}

double OpCall::num_attr(const std::string& name) const {
  auto it = attrs_.find(name);
  if (it == attrs_.end()) type_error(op_ + ": attrs." + name + " is required");
  if (attr_is_list_.at(name)) type_error(op_ + ": attrs." + name + " must be a number, not a list");
  if (!std::isfinite(it->second[0])) range_error(op_ + ": attrs." + name + " must be finite");
  return it->second[0];
}

double OpCall::num_attr(const std::string& name, double fallback) const {
  return has_attr(name) ? num_attr(name) : fallback;
}

std::vector<int64_t> OpCall::ints_attr(const std::string& name) const {
  auto it = attrs_.find(name);
  if (it == attrs_.end()) type_error(op_ + ": attrs." + name + " is required");
  std::vector<int64_t> out;
  for (double v : it->second) {
    if (v != std::floor(v) || std::fabs(v) > 9.0e15)
      type_error(op_ + ": attrs." + name + " must hold integers");
    out.push_back(static_cast<int64_t>(v));
  }
  return out;
}

void OpCall::expect_dim(const std::string& name, const Tensor& t, int axis, int64_t want,
                        const std::string& what) const {
  if (t.dim(axis) != want)
    range_error(op_ + ": inputs." + name + ".shape[" + std::to_string(axis < 0 ? t.ndim + axis : axis) +
                "] must be " + std::to_string(want) + " (" + what + "), got shape " + t.shape_str());
}

void OpCall::expect_shape(const std::string& name, const Tensor& t, const Tensor& ref, const std::string& what) const {
  bool same = t.ndim == ref.ndim;
  for (int i = 0; same && i < t.ndim; ++i) same = t.shape[i] == ref.shape[i];
  if (!same)
    range_error(op_ + ": inputs." + name + " must have shape " + ref.shape_str() + " (" + what + "), got " +
                t.shape_str());
}

void OpCall::fail_range(const std::string& msg) const { range_error(op_ + ": " + msg); }

void OpCall::declare_output(const std::string& name, std::vector<int64_t> shape, DType dtype) {
  for (int64_t s : shape)
    if (s < 0) range_error(op_ + ": output " + name + " would have a negative dimension");
  declared_.push_back({name, {std::move(shape), dtype}});
}

Tensor OpCall::output(const std::string& name) const {
  auto it = outputs_.find(name);
  AMAE_CHECK(it != outputs_.end(), op_ + ": no output named " + name);
  return it->second;
}

}  // namespace amae::napi
