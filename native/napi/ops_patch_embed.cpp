#include "../ops/patch_embed.h"
#include "volume_args.h"

namespace amae::napi {
namespace {

// A call's checked inputs; an absent optional one is a view with data == nullptr.
struct Params {
  Tensor x, w, b, sw, sb;
  int64_t p, patches;
};

// Checks the inputs both directions share: x [N, C, H, W, D], w [E, C, p, p, p], b [E],
// sw and sb [N, E], and that p divides the volume.
Params check(const OpCall& c) {
  Params a;
  a.x = volume(c, "x");
  a.w = volume(c, "w");
  a.p = c.int_attr("p");
  if (a.p < 1) c.fail_range("attrs.p must be at least 1, got " + std::to_string(a.p));
  c.expect_dim("w", a.w, 1, a.x.dim(1), "the channels of x");
  for (int i = 2; i < 5; ++i) c.expect_dim("w", a.w, i, a.p, "attrs.p");
  a.patches = 1;
  for (int i = 2; i < 5; ++i) {
    if (a.x.dim(i) % a.p != 0)
      c.fail_range("the volume size " + std::to_string(a.x.dim(2)) + "x" + std::to_string(a.x.dim(3)) + "x" +
                   std::to_string(a.x.dim(4)) + " of inputs.x is not divisible by attrs.p = " + std::to_string(a.p));
    a.patches *= a.x.dim(i) / a.p;
  }
  const int64_t n = a.x.dim(0), e = a.w.dim(0);
  a.b = c.optional_input("b", DType::F32, 1);
  if (a.b.data) c.expect_dim("b", a.b, 0, e, "the embedding size, w.shape[0]");
  a.sw = c.optional_input("sw", DType::F32, 2);
  if (a.sw.data) c.expect_shape("sw", a.sw, shape_ref({n, e}), "[samples, embedding size]");
  a.sb = c.optional_input("sb", DType::F32, 2);
  if (a.sb.data) {
    c.expect_shape("sb", a.sb, shape_ref({n, e}), "[samples, embedding size]");
    if (!a.b.data) type_error(c.op_ + ": inputs.sb scales the bias, so inputs.b is required with it");
  }
  return a;
}

// The gradient of an optional input: requested by default when the input is present; asking for
// it without the input is a caller's mistake.
bool wants_param(const OpCall& c, const std::string& attr, const Tensor& input, const std::string& name) {
  if (input.data) return wants(c, attr);
  if (c.has_attr(attr) && wants(c, attr))
    type_error(c.op_ + ": attrs." + attr + " asks for the gradient of inputs." + name + ", which is absent");
  return false;
}

void register_patch_embed_ops() {
  register_op({"patch_embed_forward", {"x", "w", "b", "sw", "sb"}, {"p"},
               [](OpCall& c) {
                 const Params a = check(c);
                 c.declare_output("y", {a.x.dim(0), a.patches, a.w.dim(0)});
               },
               [](OpCall& c) {
                 const Params a = check(c);
                 ops::patch_embed_forward(a.x, a.w, a.b, a.sw, a.sb, c.output("y"), a.p);
               }});
  register_op({"patch_embed_backward", {"x", "w", "b", "sw", "sb", "dy"}, {"p", "dx", "dw", "db", "dsw", "dsb"},
               [](OpCall& c) {
                 const Params a = check(c);
                 c.expect_shape("dy", c.input("dy", DType::F32, 3), shape_ref({a.x.dim(0), a.patches, a.w.dim(0)}),
                                "the output of patch_embed_forward");
                 if (wants(c, "dx")) c.declare_output("dx", dims_of(a.x));
                 if (wants(c, "dw")) c.declare_output("dw", dims_of(a.w));
                 if (wants_param(c, "db", a.b, "b")) c.declare_output("db", dims_of(a.b));
                 if (wants_param(c, "dsw", a.sw, "sw")) c.declare_output("dsw", dims_of(a.sw));
                 if (wants_param(c, "dsb", a.sb, "sb")) c.declare_output("dsb", dims_of(a.sb));
               },
               [](OpCall& c) {
                 const Params a = check(c);
                 auto param_grad = [&](const std::string& attr, const Tensor& input) {
                   return input.data ? optional_output(c, attr) : Tensor();
                 };
                 ops::patch_embed_backward(a.x, a.w, a.b, a.sw, a.sb, c.inputs_.at("dy"), optional_output(c, "dx"),
                                           optional_output(c, "dw"), param_grad("db", a.b), param_grad("dsw", a.sw),
                                           param_grad("dsb", a.sb), a.p);
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_patch_embed_ops);
}  // namespace amae::napi
