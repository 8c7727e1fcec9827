#include "../ops/layernorm.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

constexpr double kDefaultEps = 1e-5;  // PyTorch's and the spec's LayerNorm eps

// x as [T, C] with C ≥ 1 (normalising zero values would divide by zero).
Tensor check_rows(const OpCall& c) {
  Tensor x = c.input("x", DType::F32, 2);
  if (x.dim(1) < 1) c.fail_range("inputs.x must have at least one column to normalise, got shape " + x.shape_str());
  return x;
}

void register_layernorm_ops() {
  register_op({"layernorm_forward", {"x", "w", "b"}, {"eps"},
               [](OpCall& c) {
                 Tensor x = check_rows(c);
                 c.expect_dim("w", c.input("w", DType::F32, 1), 0, x.dim(1), "the columns of x");
                 c.expect_dim("b", c.input("b", DType::F32, 1), 0, x.dim(1), "the columns of x");
                 if (!(c.num_attr("eps", kDefaultEps) > 0)) c.fail_range("attrs.eps must be > 0");
                 c.declare_output("y", dims_of(x));
                 c.declare_output("mean", {x.dim(0)});
                 c.declare_output("rstd", {x.dim(0)});
               },
               [](OpCall& c) {
                 ops::layernorm_forward(c.inputs_.at("x"), c.inputs_.at("w"), c.inputs_.at("b"), c.output("y"),
                                        c.output("mean"), c.output("rstd"), float(c.num_attr("eps", kDefaultEps)));
               }});
  register_op({"layernorm_backward", {"x", "w", "mean", "rstd", "dy"}, {},
               [](OpCall& c) {
                 Tensor x = check_rows(c);
                 Tensor w = c.input("w", DType::F32, 1);
                 c.expect_dim("w", w, 0, x.dim(1), "the columns of x");
                 c.expect_dim("mean", c.input("mean", DType::F32, 1), 0, x.dim(0), "the rows of x");
                 c.expect_dim("rstd", c.input("rstd", DType::F32, 1), 0, x.dim(0), "the rows of x");
                 c.expect_shape("dy", c.input("dy", DType::F32, 2), x, "the shape of x");
                 c.declare_output("dx", dims_of(x));
                 c.declare_output("dw", dims_of(w));
                 c.declare_output("db", dims_of(w));
               },
               [](OpCall& c) {
                 ops::layernorm_backward(c.inputs_.at("x"), c.inputs_.at("w"), c.inputs_.at("mean"),
                                         c.inputs_.at("rstd"), c.inputs_.at("dy"), c.output("dx"), c.output("dw"),
                                         c.output("db"));
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_layernorm_ops);
}  // namespace amae::napi
