#include "../ops/patch_embed.h"

#include <algorithm>

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

// The checked inputs of patch_embed_rows_*: patches [T, K], offsets [N + 1] over the T rows,
// w [E, ...] holding E·K values, b [E], sw and sb [N, E].
struct RowParams {
  Tensor patches, offsets, w, b, sw, sb;
  int64_t rows, embed;
};

RowParams check_rows(const OpCall& c) {
  RowParams a;
  a.patches = c.input("patches", DType::F32, 2);
  a.rows = a.patches.dim(0);
  a.offsets = c.input("offsets", DType::I32, 1);
  expect_offsets(c, "offsets", a.offsets, a.rows, "the rows of inputs.patches", true);
  const int64_t n = a.offsets.numel() - 1;
  a.w = input_min_rank(c, "w", DType::F32, 2);
  a.embed = a.w.dim(0);
  if (a.w.numel() != a.embed * a.patches.dim(1))
    c.fail_range("inputs.w must hold " + std::to_string(a.patches.dim(1)) + " values per embedding channel (the " +
                 "width of inputs.patches), got shape " + a.w.shape_str());
  a.b = c.optional_input("b", DType::F32, 1);
  if (a.b.data) c.expect_dim("b", a.b, 0, a.embed, "the embedding size, w.shape[0]");
  a.sw = c.optional_input("sw", DType::F32, 2);
  if (a.sw.data) c.expect_shape("sw", a.sw, shape_ref({n, a.embed}), "[segments, embedding size]");
  a.sb = c.optional_input("sb", DType::F32, 2);
  if (a.sb.data) {
    c.expect_shape("sb", a.sb, shape_ref({n, a.embed}), "[segments, embedding size]");
    if (!a.b.data) type_error(c.op_ + ": inputs.sb scales the bias, so inputs.b is required with it");
  }
  return a;
}

// The patch grid of attrs.p over a volume [H, W, D]; RangeError unless p divides it.
int64_t patch_count(const OpCall& c, int64_t p, const int64_t* size, const std::string& what) {
  if (p < 1) c.fail_range("attrs.p must be at least 1, got " + std::to_string(p));
  int64_t count = 1;
  for (int i = 0; i < 3; ++i) {
    if (size[i] % p != 0)
      c.fail_range("the volume size " + std::to_string(size[0]) + "x" + std::to_string(size[1]) + "x" +
                   std::to_string(size[2]) + " of " + what + " is not divisible by attrs.p = " + std::to_string(p));
    count *= size[i] / p;
  }
  return count;
}

void register_patch_embed_ops() {
  register_op({"patchify_forward", {"x"}, {"p"},
               [](OpCall& c) {
                 Tensor x = volume(c, "x");
                 const int64_t p = c.int_attr("p");
                 const int64_t count = patch_count(c, p, x.shape + 2, "inputs.x");
                 c.declare_output("patches", {x.dim(0), count, x.dim(1) * p * p * p});
               },
               [](OpCall& c) { ops::patchify_forward(c.inputs_.at("x"), c.output("patches"), c.int_attr("p")); }});
  // attrs.input_size = [H, W, D] of the volume; the channels follow from the patch width.
  register_op({"patchify_backward", {"dpatches"}, {"p", "input_size"},
               [](OpCall& c) {
                 Tensor dp = c.input("dpatches", DType::F32, 3);
                 const int64_t p = c.int_attr("p");
                 const std::vector<int64_t> size = c.ints_attr("input_size");
                 if (size.size() != 3 || *std::min_element(size.begin(), size.end()) < 1)
                   c.fail_range("attrs.input_size must be [H, W, D] with positive sizes");
                 const int64_t count = patch_count(c, p, size.data(), "attrs.input_size");
                 c.expect_dim("dpatches", dp, 1, count, "the patches of attrs.input_size");
                 if (dp.dim(2) % (p * p * p) != 0)
                   c.fail_range("inputs.dpatches.shape[2] = " + std::to_string(dp.dim(2)) +
                                " must be a multiple of p³ = " + std::to_string(p * p * p) + " (channels · p³)");
                 c.declare_output("dx", {dp.dim(0), dp.dim(2) / (p * p * p), size[0], size[1], size[2]});
               },
               [](OpCall& c) {
                 ops::patchify_backward(c.inputs_.at("dpatches"), c.output("dx"), c.int_attr("p"));
               }});
  // The forward also returns z, the unscaled products the backward's dsw needs.
  register_op({"patch_embed_rows_forward", {"patches", "offsets", "w", "b", "sw", "sb"}, {},
               [](OpCall& c) {
                 const RowParams a = check_rows(c);
                 c.declare_output("y", {a.rows, a.embed});
                 c.declare_output("z", {a.rows, a.embed});
               },
               [](OpCall& c) {
                 const RowParams a = check_rows(c);
                 ops::patch_embed_rows_forward(a.patches, a.offsets, a.w, a.b, a.sw, a.sb, c.output("z"),
                                               c.output("y"));
               }});
  register_op({"patch_embed_rows_backward",
               {"patches", "offsets", "w", "b", "sw", "sb", "z", "dy"},
               {"dpatches", "dw", "db", "dsw", "dsb"},
               [](OpCall& c) {
                 const RowParams a = check_rows(c);
                 const Tensor rows_e = shape_ref({a.rows, a.embed});
                 c.expect_shape("dy", c.input("dy", DType::F32, 2), rows_e, "the output of patch_embed_rows_forward");
                 if (wants(c, "dpatches")) c.declare_output("dpatches", dims_of(a.patches));
                 if (wants(c, "dw")) c.declare_output("dw", dims_of(a.w));
                 if (wants_param(c, "db", a.b, "b")) c.declare_output("db", dims_of(a.b));
                 if (wants_param(c, "dsw", a.sw, "sw")) {
                   Tensor z = c.optional_input("z", DType::F32, 2);
                   if (!z.data) type_error(c.op_ + ": the gradient of inputs.sw needs inputs.z from the forward");
                   c.expect_shape("z", z, rows_e, "the forward's z");
                   c.declare_output("dsw", dims_of(a.sw));
                 }
                 if (wants_param(c, "dsb", a.sb, "sb")) c.declare_output("dsb", dims_of(a.sb));
               },
               [](OpCall& c) {
                 const RowParams a = check_rows(c);
                 auto param_grad = [&](const std::string& attr, const Tensor& input) {
                   return input.data ? optional_output(c, attr) : Tensor();
                 };
                 auto z = c.inputs_.find("z");
                 ops::patch_embed_rows_backward(a.patches, a.offsets, a.w, a.b, a.sw, a.sb,
                                                z == c.inputs_.end() ? Tensor() : z->second, c.inputs_.at("dy"),
                                                optional_output(c, "dpatches"), optional_output(c, "dw"),
                                                param_grad("db", a.b), param_grad("dsw", a.sw),
                                                param_grad("dsb", a.sb));
               }});

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
