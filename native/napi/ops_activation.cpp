#include "../ops/activation.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

void register_activation_ops() {
  register_op({"gelu_forward", {"x"}, {},
               [](OpCall& c) { c.declare_output("y", dims_of(c.input_any_rank("x", DType::F32))); },
               [](OpCall& c) { ops::gelu_forward(c.inputs_.at("x"), c.output("y")); }});
  register_op({"gelu_backward", {"x", "dy"}, {},
               [](OpCall& c) {
                 Tensor x = c.input_any_rank("x", DType::F32);
                 c.expect_shape("dy", c.input_any_rank("dy", DType::F32), x, "the shape of x");
                 c.declare_output("dx", dims_of(x));
               },
               [](OpCall& c) { ops::gelu_backward(c.inputs_.at("x"), c.inputs_.at("dy"), c.output("dx")); }});
  register_op({"leaky_relu_forward", {"x"}, {"slope"},
               [](OpCall& c) {
                 if (c.num_attr("slope", 0.01) <= 0) c.fail_range("attrs.slope must be > 0");
                 c.declare_output("y", dims_of(c.input_any_rank("x", DType::F32)));
               },
               [](OpCall& c) {
                 ops::leaky_relu_forward(c.inputs_.at("x"), c.output("y"), float(c.num_attr("slope", 0.01)));
               }});
  register_op({"leaky_relu_backward", {"y", "dy"}, {"slope"},
               [](OpCall& c) {
                 Tensor y = c.input_any_rank("y", DType::F32);
                 c.expect_shape("dy", c.input_any_rank("dy", DType::F32), y, "the shape of y");
                 // The backward reads the sign of y, which equals the sign of x only for slope > 0.
                 if (c.num_attr("slope", 0.01) <= 0) c.fail_range("attrs.slope must be > 0");
                 c.declare_output("dx", dims_of(y));
               },
               [](OpCall& c) {
                 ops::leaky_relu_backward(c.inputs_.at("y"), c.inputs_.at("dy"), c.output("dx"),
                                          float(c.num_attr("slope", 0.01)));
               }});
  register_op({"add_forward", {"a", "b"}, {},
               [](OpCall& c) {
                 Tensor a = c.input_any_rank("a", DType::F32);
                 c.expect_shape("b", c.input_any_rank("b", DType::F32), a, "the shape of a");
                 c.declare_output("y", dims_of(a));
               },
               [](OpCall& c) { ops::add_forward(c.inputs_.at("a"), c.inputs_.at("b"), c.output("y")); }});
}

}  // namespace
AMAE_REGISTER_OPS(register_activation_ops);
}  // namespace amae::napi
