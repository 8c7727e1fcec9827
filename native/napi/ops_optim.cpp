// The optimiser ops update their inputs in place (no outputs): adamw_step writes inputs.param,
// inputs.m and inputs.v; scale_inplace writes inputs.x. The JS caller's buffers are the state.
#include <cstdint>
#include <string>

#include "../ops/optim.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

bool overlap(const Tensor& a, const Tensor& b) {
  const auto* a0 = static_cast<const uint8_t*>(a.data);
  const auto* b0 = static_cast<const uint8_t*>(b.data);
  const int64_t na = a.numel() * int64_t(dtype_size(a.dtype)), nb = b.numel() * int64_t(dtype_size(b.dtype));
  return na > 0 && nb > 0 && a0 < b0 + nb && b0 < a0 + na;
}

// A number attribute in [lo, hi) or [lo, hi]; `bound` spells the interval for the message.
double attr_in(const OpCall& c, const std::string& name, bool ok(double), const std::string& bound) {
  const double v = c.num_attr(name);
  if (!ok(v)) c.fail_range("attrs." + name + " must be " + bound + ", got " + std::to_string(v));
  return v;
}

void check_adamw(const OpCall& c) {
  const char* names[] = {"param", "grad", "m", "v"};
  Tensor t[4];
  for (int i = 0; i < 4; ++i) {
    t[i] = c.input_any_rank(names[i], DType::F32);
    if (i) c.expect_shape(names[i], t[i], t[0], "the shape of param");
  }
  // The update reads grad while writing param, m and v element by element; shared memory
  // between any two of them would silently corrupt the step.
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      if (overlap(t[i], t[j]))
        c.fail_range(std::string("inputs.") + names[i] + " and inputs." + names[j] + " must not share memory");
  attr_in(c, "lr", [](double v) { return v >= 0; }, "≥ 0");
  attr_in(c, "beta1", [](double v) { return v >= 0 && v < 1; }, "in [0, 1)");
  attr_in(c, "beta2", [](double v) { return v >= 0 && v < 1; }, "in [0, 1)");
  attr_in(c, "eps", [](double v) { return v > 0; }, "> 0");
  attr_in(c, "weight_decay", [](double v) { return v >= 0; }, "≥ 0");
  if (c.int_attr("step") < 1)
    c.fail_range("attrs.step must be ≥ 1 (the number of steps taken, this one included), got " +
                 std::to_string(c.int_attr("step")));
}

void register_optim_ops() {
  register_op({"adamw_step", {"param", "grad", "m", "v"}, {"lr", "beta1", "beta2", "eps", "weight_decay", "step"},
               check_adamw,
               [](OpCall& c) {
                 ops::adamw_step(c.inputs_.at("param"), c.inputs_.at("grad"), c.inputs_.at("m"), c.inputs_.at("v"),
                                 c.num_attr("lr"), c.num_attr("beta1"), c.num_attr("beta2"), c.num_attr("eps"),
                                 c.num_attr("weight_decay"), c.int_attr("step"));
               },
               {"param", "m", "v"}});
  register_op({"grad_norm_sq", {"x"}, {},
               [](OpCall& c) {
                 c.input_any_rank("x", DType::F32);
                 c.declare_output("norm_sq", {1});
               },
               [](OpCall& c) { ops::grad_norm_sq(c.inputs_.at("x"), c.output("norm_sq")); }});
  register_op({"scale_inplace", {"x"}, {"s"},
               [](OpCall& c) {
                 c.input_any_rank("x", DType::F32);
                 c.num_attr("s");
               },
               [](OpCall& c) { ops::scale_inplace(c.inputs_.at("x"), float(c.num_attr("s"))); },
               {"x"}});
}

}  // namespace
AMAE_REGISTER_OPS(register_optim_ops);
}  // namespace amae::napi
