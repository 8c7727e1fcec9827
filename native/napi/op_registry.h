// The op-level Node-API surface as data: each op family registers OpDefs (its inputs, attributes,
// a `prepare` that checks a call and declares its outputs on the JS thread, and a `run` that does
// the work on a worker thread). addon.cpp exposes them all through one `op(name, inputs, attrs)`.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../core/tensor.h"

namespace amae::napi {

// One call of an op: tensor views of the JS inputs, the attributes, and the outputs that
// prepare() declared (allocated by the binding as JS typed arrays, zero-filled).
class OpCall {
 public:
  explicit OpCall(std::string op) : op_(std::move(op)) {}

  // A required input of the given dtype and rank; a TypeError/RangeError names it otherwise.
  Tensor input(const std::string& name, DType dtype, int ndim) const;
  // Same for an optional input; returns a tensor with data == nullptr when absent.
  Tensor optional_input(const std::string& name, DType dtype, int ndim) const;
  // A required input of any rank (element-wise ops).
  Tensor input_any_rank(const std::string& name, DType dtype) const;
  bool has_input(const std::string& name) const { return inputs_.count(name) != 0; }

  int64_t int_attr(const std::string& name) const;
  int64_t int_attr(const std::string& name, int64_t fallback) const;
  double num_attr(const std::string& name) const;
  double num_attr(const std::string& name, double fallback) const;
  std::vector<int64_t> ints_attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return attrs_.count(name) != 0; }

  // RangeError unless t.shape[axis] == want; `what` names where `want` came from.
  void expect_dim(const std::string& name, const Tensor& t, int axis, int64_t want, const std::string& what) const;
  // RangeError unless t has exactly ref's shape.
  void expect_shape(const std::string& name, const Tensor& t, const Tensor& ref, const std::string& what) const;
  [[noreturn]] void fail_range(const std::string& msg) const;

  // Declares an output (prepare only); run() reads it back with output().
  void declare_output(const std::string& name, std::vector<int64_t> shape, DType dtype = DType::F32);
  Tensor output(const std::string& name) const;

  // Filled by the binding.
  std::string op_;
  std::map<std::string, Tensor> inputs_;
  std::map<std::string, std::vector<double>> attrs_;  // scalars are one-element lists
  std::map<std::string, bool> attr_is_list_;
  std::vector<std::pair<std::string, std::pair<std::vector<int64_t>, DType>>> declared_;
  std::map<std::string, Tensor> outputs_;
  // Snapshots of the Int32 (index) inputs: prepare() validates these copies and the op reads
  // them, so JS writing to its typed array while the op runs cannot turn into a bad index.
  std::map<std::string, std::vector<int32_t>> index_copies_;
  // Outputs that are the caller's buffers (zero-filled before the op runs).
  std::vector<std::string> reused_;
};

inline std::vector<int64_t> dims_of(const Tensor& t) { return {t.shape, t.shape + t.ndim}; }

struct OpDef {
  std::string name;
  std::vector<std::string> inputs;  // every accepted input name (in-place ones are documented per op)
  std::vector<std::string> attrs;   // every accepted attribute name
  // Checks the call and declares its outputs (JS thread; the tensors are host memory).
  std::function<void(OpCall&)> prepare;
  // Does the work (worker thread). With options.device 'cuda' every tensor it sees is a device
  // copy: run() must not read tensor data on the host (the checks it repeats skip device data).
  std::function<void(OpCall&)> run;
  // The inputs the op updates in place (the optimiser's state): on a device they are copied back.
  std::vector<std::string> writes_inputs = {};
};

void register_op(OpDef def);
const OpDef* find_op(const std::string& name);
std::vector<const OpDef*> all_ops();

// Registers a family's ops when the addon loads: `AMAE_REGISTER_OPS(register_gelu_ops)`.
struct OpRegistrar {
  explicit OpRegistrar(void (*fn)()) { fn(); }
};
#define AMAE_REGISTER_OPS(fn) static const ::amae::napi::OpRegistrar amae_registrar_##fn(fn)

}  // namespace amae::napi
