#include "../ops/attention.h"
#include "op_args.h"

namespace amae::napi {
namespace {

struct Checked {
  Tensor qkv;
  int64_t T, E, heads;
};

// The checks both directions share: qkv [T, 3E], attrs.heads dividing E, and offsets a valid
// segmentation of the T rows. The kernels index with offsets, so every entry is checked here.
Checked check_qkv_offsets_heads(const OpCall& c) {
  Tensor qkv = c.input("qkv", DType::F32, 2);
  const int64_t T = qkv.dim(0), E = qkv.dim(1) / 3;
  if (E < 1 || qkv.dim(1) != 3 * E)
    c.fail_range("inputs.qkv must be [T, 3E] with E ≥ 1 (q, k and v heads side by side), got shape " +
                 qkv.shape_str());
  const int64_t heads = c.int_attr("heads");
  if (heads < 1 || E % heads != 0)
    c.fail_range("attrs.heads must be a positive divisor of E = " + std::to_string(E) + ", got " +
                 std::to_string(heads));

  expect_offsets(c, "offsets", c.input("offsets", DType::I32, 1), T, "the rows of inputs.qkv", true);
  return {qkv, T, E, heads};
}

void register_attention_ops() {
  register_op({"attention_forward", {"qkv", "offsets"}, {"heads"},
               [](OpCall& c) {
                 const Checked k = check_qkv_offsets_heads(c);
                 c.declare_output("out", {k.T, k.E});
                 c.declare_output("lse", {k.heads, k.T});
               },
               [](OpCall& c) {
                 ops::attention_forward(c.inputs_.at("qkv"), c.inputs_.at("offsets"), c.output("out"),
                                        c.output("lse"), int(c.int_attr("heads")));
               }});
  register_op({"attention_backward", {"qkv", "offsets", "out", "lse", "dout"}, {"heads"},
               [](OpCall& c) {
                 const Checked k = check_qkv_offsets_heads(c);
                 Tensor out = c.input("out", DType::F32, 2);
                 c.expect_dim("out", out, 0, k.T, "the rows of qkv");
                 c.expect_dim("out", out, 1, k.E, "E = qkv.shape[1] / 3");
                 Tensor lse = c.input("lse", DType::F32, 2);
                 c.expect_dim("lse", lse, 0, k.heads, "attrs.heads");
                 c.expect_dim("lse", lse, 1, k.T, "the rows of qkv");
                 c.expect_shape("dout", c.input("dout", DType::F32, 2), out, "the shape of out");
                 c.declare_output("dqkv", dims_of(k.qkv));
               },
               [](OpCall& c) {
                 ops::attention_backward(c.inputs_.at("qkv"), c.inputs_.at("offsets"), c.inputs_.at("out"),
                                         c.inputs_.at("lse"), c.inputs_.at("dout"), c.output("dqkv"),
                                         int(c.int_attr("heads")));
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_attention_ops);
}  // namespace amae::napi
