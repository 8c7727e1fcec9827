// Linear and batched matmul ops.
//
// The backward ops choose their outputs with boolean attributes named like them, each true when
// left out:
//   linear_backward: dx, dw, db   → outputs dx, dw, db
//   matmul_backward: da, db       → outputs da, db
// matmul_forward/matmul_backward also take trans_a, trans_b (false when left out) and alpha (1).
// An output that is not asked for is neither computed nor returned. Every input is still required
// and checked, whichever gradients are asked for, so a call's validity never depends on its flags.
#include "../ops/linear.h"
#include "op_args.h"

namespace amae::napi {
namespace {


struct MatmulDims {
  int64_t batch, M, N, K;
};

// a [B, M, K] (trans_a: [B, K, M]) and b [B, K, N] (trans_b: [B, N, K]).
MatmulDims check_matmul(const OpCall& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const MatmulDims d{a.dim(0), trans_a ? a.dim(2) : a.dim(1), trans_b ? b.dim(1) : b.dim(2),
                     trans_a ? a.dim(1) : a.dim(2)};
  c.expect_dim("b", b, 0, d.batch, "the batch size, a.shape[0]");
  c.expect_dim("b", b, trans_b ? 2 : 1, d.K,
               std::string("K = a.shape[") + (trans_a ? "1" : "2") + "]" + (trans_b ? " with trans_b" : ""));
  return d;
}

void register_linear_ops() {
  register_op({"linear_forward", {"x", "w", "b"}, {},
               [](OpCall& c) {
                 Tensor x = c.input("x", DType::F32, 2), w = c.input("w", DType::F32, 2);
                 c.expect_dim("w", w, 1, x.dim(1), "in = x.shape[1]");
                 Tensor b = c.optional_input("b", DType::F32, 1);
                 if (c.has_input("b")) c.expect_dim("b", b, 0, w.dim(0), "out = w.shape[0]");
                 c.declare_output("y", {x.dim(0), w.dim(0)});
               },
               [](OpCall& c) {
                 ops::linear_forward(c.inputs_.at("x"), c.inputs_.at("w"), c.optional_input("b", DType::F32, 1),
                                     c.output("y"));
               }});
  register_op({"linear_backward", {"x", "w", "dy"}, {"dx", "dw", "db"},
               [](OpCall& c) {
                 Tensor x = c.input("x", DType::F32, 2), w = c.input("w", DType::F32, 2);
                 c.expect_dim("w", w, 1, x.dim(1), "in = x.shape[1]");
                 Tensor dy = c.input("dy", DType::F32, 2);
                 c.expect_dim("dy", dy, 0, x.dim(0), "N = x.shape[0]");
                 c.expect_dim("dy", dy, 1, w.dim(0), "out = w.shape[0]");
                 if (wants(c, "dx")) c.declare_output("dx", dims_of(x));
                 if (wants(c, "dw")) c.declare_output("dw", dims_of(w));
                 if (wants(c, "db")) c.declare_output("db", {w.dim(0)});
               },
               [](OpCall& c) {
                 ops::linear_backward(c.inputs_.at("x"), c.inputs_.at("w"), c.inputs_.at("dy"),
                                      optional_output(c, "dx"),
                                      optional_output(c, "dw"),
                                      optional_output(c, "db"));
               }});
  register_op({"matmul_forward", {"a", "b"}, {"trans_a", "trans_b", "alpha"},
               [](OpCall& c) {
                 Tensor a = c.input("a", DType::F32, 3), b = c.input("b", DType::F32, 3);
                 const MatmulDims d = check_matmul(c, a, b, flag(c, "trans_a", false), flag(c, "trans_b", false));
                 c.num_attr("alpha", 1.0);  // checks it is a finite number
                 c.declare_output("c", {d.batch, d.M, d.N});
               },
               [](OpCall& c) {
                 ops::matmul_forward(c.inputs_.at("a"), c.inputs_.at("b"), c.output("c"), flag(c, "trans_a", false),
                                     flag(c, "trans_b", false), float(c.num_attr("alpha", 1.0)));
               }});
  register_op({"matmul_backward", {"a", "b", "dc"}, {"trans_a", "trans_b", "alpha", "da", "db"},
               [](OpCall& c) {
                 Tensor a = c.input("a", DType::F32, 3), b = c.input("b", DType::F32, 3);
                 const MatmulDims d = check_matmul(c, a, b, flag(c, "trans_a", false), flag(c, "trans_b", false));
                 c.num_attr("alpha", 1.0);  // checks it is a finite number
                 Tensor dc = c.input("dc", DType::F32, 3);
                 c.expect_shape("dc", dc, Tensor(nullptr, {d.batch, d.M, d.N}), "the shape of c");
                 if (wants(c, "da")) c.declare_output("da", dims_of(a));
                 if (wants(c, "db")) c.declare_output("db", dims_of(b));
               },
               [](OpCall& c) {
                 ops::matmul_backward(c.inputs_.at("a"), c.inputs_.at("b"), c.inputs_.at("dc"),
                                      optional_output(c, "da"),
                                      optional_output(c, "db"), flag(c, "trans_a", false),
                                      flag(c, "trans_b", false), float(c.num_attr("alpha", 1.0)));
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_linear_ops);
}  // namespace amae::napi
