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
}

}  // namespace
AMAE_REGISTER_OPS(register_norm_ops);
}  // namespace amae::napi
