#include "../ops/conv.h"
#include "volume_args.h"

namespace amae::napi {
namespace {

// The optional bias [Co]; a view with data == nullptr when absent.
Tensor bias(const OpCall& c, int64_t co) {
  Tensor b = c.optional_input("b", DType::F32, 1);
  if (b.data) c.expect_dim("b", b, 0, co, "the output channels of w");
  return b;
}

// Declares each requested gradient with the shape of the tensor it differentiates.
void declare_grads(OpCall& c, const Tensor& x, const Tensor& w, int64_t co) {
  if (wants(c, "dx")) c.declare_output("dx", dims_of(x));
  if (wants(c, "dw")) c.declare_output("dw", dims_of(w));
  if (wants(c, "db")) c.declare_output("db", {co});
}

// conv3d: w [Co, Ci, k, k, k] with k ∈ {1, 3}; returns Co.
int64_t check_conv(const OpCall& c, const Tensor& x, const Tensor& w) {
  c.expect_dim("w", w, 1, x.dim(1), "the channels of x");
  const int64_t k = w.dim(2);
  if ((k != 1 && k != 3) || w.dim(3) != k || w.dim(4) != k)
    c.fail_range("inputs.w must be a cubic kernel of size 1 or 3, [Co, Ci, k, k, k], got shape " + w.shape_str());
  return w.dim(0);
}

// conv_transpose3d: w [Ci, Co, 2, 2, 2] (PyTorch's ConvTranspose3d layout); returns Co.
int64_t check_transposed(const OpCall& c, const Tensor& x, const Tensor& w) {
  c.expect_dim("w", w, 0, x.dim(1), "the channels of x");
  for (int i = 2; i < 5; ++i) c.expect_dim("w", w, i, 2, "kernel 2, stride 2");
  return w.dim(1);
}

void register_conv_ops() {
  register_op({"conv3d_forward", {"x", "w", "b"}, {},
               [](OpCall& c) {
                 Tensor x = volume(c, "x"), w = volume(c, "w");
                 const int64_t co = check_conv(c, x, w);
                 bias(c, co);
                 c.declare_output("y", {x.dim(0), co, x.dim(2), x.dim(3), x.dim(4)});
               },
               [](OpCall& c) {
                 ops::conv3d_forward(c.inputs_.at("x"), c.inputs_.at("w"), c.optional_input("b", DType::F32, 1),
                                     c.output("y"));
               }});
  register_op({"conv3d_backward", {"x", "w", "dy"}, {"dx", "dw", "db"},
               [](OpCall& c) {
                 Tensor x = volume(c, "x"), w = volume(c, "w");
                 const int64_t co = check_conv(c, x, w);
                 c.expect_shape("dy", c.input("dy", DType::F32, 5), shape_ref({x.dim(0), co, x.dim(2), x.dim(3), x.dim(4)}),
                                "the output of conv3d_forward");
                 declare_grads(c, x, w, co);
               },
               [](OpCall& c) {
                 ops::conv3d_backward(c.inputs_.at("x"), c.inputs_.at("w"), c.inputs_.at("dy"), optional_output(c, "dx"),
                                      optional_output(c, "dw"), optional_output(c, "db"));
               }});
  register_op({"conv_transpose3d_forward", {"x", "w", "b"}, {},
               [](OpCall& c) {
                 Tensor x = volume(c, "x"), w = volume(c, "w");
                 const int64_t co = check_transposed(c, x, w);
                 bias(c, co);
                 c.declare_output("y", {x.dim(0), co, 2 * x.dim(2), 2 * x.dim(3), 2 * x.dim(4)});
               },
               [](OpCall& c) {
                 ops::conv_transpose3d_forward(c.inputs_.at("x"), c.inputs_.at("w"),
                                               c.optional_input("b", DType::F32, 1), c.output("y"));
               }});
  register_op({"conv_transpose3d_backward", {"x", "w", "dy"}, {"dx", "dw", "db"},
               [](OpCall& c) {
                 Tensor x = volume(c, "x"), w = volume(c, "w");
                 const int64_t co = check_transposed(c, x, w);
                 c.expect_shape("dy", c.input("dy", DType::F32, 5),
                                shape_ref({x.dim(0), co, 2 * x.dim(2), 2 * x.dim(3), 2 * x.dim(4)}),
                                "the output of conv_transpose3d_forward");
                 declare_grads(c, x, w, co);
               },
               [](OpCall& c) {
                 ops::conv_transpose3d_backward(c.inputs_.at("x"), c.inputs_.at("w"), c.inputs_.at("dy"),
                                                optional_output(c, "dx"), optional_output(c, "dw"), optional_output(c, "db"));
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_conv_ops);
}  // namespace amae::napi
