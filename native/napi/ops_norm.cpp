#include "../ops/norm.h"
#include "op_args.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

// x is [N, C, ...spatial] of any rank 3..6: a volume [N, C, H, W, D] and a flattened [N, C, V]
// are the same to the op, so callers need not reshape.
Tensor norm_input(const OpCall& c) {
  Tensor x = input_min_rank(c, "x", DType::F32, 3);
  if (x.stride(1) == 0) c.fail_range("inputs.x needs at least one spatial element, got shape " + x.shape_str());
  return x;
}

float slope_attr(const OpCall& c) {
  const double slope = c.num_attr("slope", 0.01);
  if (!(slope > 0)) c.fail_range("attrs.slope must be > 0 (the backward inverts the LeakyReLU)");
  return float(slope);
}

void register_norm_ops() {
  register_op({"instance_norm_forward", {"x"}, {"eps"},
               [](OpCall& c) {
                 Tensor x = norm_input(c);
                 if (c.num_attr("eps", 1e-5) <= 0) c.fail_range("attrs.eps must be > 0");
                 c.declare_output("y", dims_of(x));
                 c.declare_output("mean", {x.dim(0), x.dim(1)});
                 c.declare_output("rstd", {x.dim(0), x.dim(1)});
               },
               [](OpCall& c) {
                 ops::instance_norm_forward(c.inputs_.at("x"), c.output("y"), c.output("mean"), c.output("rstd"),
                                            float(c.num_attr("eps", 1e-5)));
               }});
  register_op({"instance_norm_backward", {"x", "mean", "rstd", "dy"}, {},
               [](OpCall& c) {
                 Tensor x = norm_input(c);
                 Tensor mean = c.input("mean", DType::F32, 2);
                 c.expect_dim("mean", mean, 0, x.dim(0), "N of x");
                 c.expect_dim("mean", mean, 1, x.dim(1), "C of x");
                 c.expect_shape("rstd", c.input("rstd", DType::F32, 2), mean, "the shape of mean");
                 c.expect_shape("dy", c.input_any_rank("dy", DType::F32), x, "the shape of x");
                 c.declare_output("dx", dims_of(x));
               },
               [](OpCall& c) {
                 ops::instance_norm_backward(c.inputs_.at("x"), c.inputs_.at("mean"), c.inputs_.at("rstd"),
                                             c.inputs_.at("dy"), c.output("dx"));
               }});
  // attrs.slope: the LeakyReLU's (default 0.01, spec §3); 1 for none. Must be > 0 (the backward
  // inverts the activation).
  register_op({"instance_norm_act_forward", {"x"}, {"eps", "slope"},
               [](OpCall& c) {
                 Tensor x = norm_input(c);
                 if (c.num_attr("eps", 1e-5) <= 0) c.fail_range("attrs.eps must be > 0");
                 slope_attr(c);
                 c.declare_output("y", dims_of(x));
                 c.declare_output("mean", {x.dim(0), x.dim(1)});
                 c.declare_output("rstd", {x.dim(0), x.dim(1)});
               },
               [](OpCall& c) {
                 ops::instance_norm_act_forward(c.inputs_.at("x"), c.output("y"), c.output("mean"), c.output("rstd"),
                                                float(c.num_attr("eps", 1e-5)), slope_attr(c));
               }});
  register_op({"instance_norm_act_backward", {"y", "rstd", "dy"}, {"slope"},
               [](OpCall& c) {
                 Tensor y = input_min_rank(c, "y", DType::F32, 3);
                 if (y.stride(1) == 0) c.fail_range("inputs.y needs at least one spatial element, got shape " + y.shape_str());
                 Tensor rstd = c.input("rstd", DType::F32, 2);
                 c.expect_dim("rstd", rstd, 0, y.dim(0), "N of y");
                 c.expect_dim("rstd", rstd, 1, y.dim(1), "C of y");
                 c.expect_shape("dy", c.input_any_rank("dy", DType::F32), y, "the shape of y");
                 slope_attr(c);
                 c.declare_output("dx", dims_of(y));
               },
               [](OpCall& c) {
                 ops::instance_norm_act_backward(c.inputs_.at("y"), c.inputs_.at("rstd"), c.inputs_.at("dy"), c.output("dx"),
                                                 slope_attr(c));
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_norm_ops);
}  // namespace amae::napi
