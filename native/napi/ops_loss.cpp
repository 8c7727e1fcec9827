#include <string>

#include "../ops/loss.h"
#include "op_registry.h"

namespace amae::napi {
namespace {

// logits and target: [N, C, ...spatial], equal shapes, at least one (sample, class) pair (the
// loss is a mean over them), targets in [0, 1] (soft labels allowed).
Tensor check_dice(const OpCall& c) {
  Tensor x = c.input_any_rank("logits", DType::F32);
  if (x.ndim < 2) c.fail_range("inputs.logits must be [N, C, ...spatial], got shape " + x.shape_str());
  if (x.dim(0) * x.dim(1) == 0) c.fail_range("inputs.logits needs N, C ≥ 1, got shape " + x.shape_str());
  Tensor g = c.input_any_rank("target", DType::F32);
  c.expect_shape("target", g, x, "the shape of logits");
  const float* v = g.f32();
  for (int64_t i = 0; g.device == Device::CPU && i < g.numel(); ++i)
    if (!(v[i] >= 0.0f && v[i] <= 1.0f))
      c.fail_range("inputs.target[" + std::to_string(i) + "] = " + std::to_string(v[i]) + " is outside [0, 1]");
  return x;
}

// pred and target: [R, L]; mask: Int32 [R] of 0/1. Returns norm_pix.
bool check_masked_mse(const OpCall& c) {
  Tensor p = c.input("pred", DType::F32, 2);
  c.expect_shape("target", c.input("target", DType::F32, 2), p, "the shape of pred");
  Tensor m = c.input("mask", DType::I32, 1);
  c.expect_dim("mask", m, 0, p.dim(0), "one flag per row of pred");
  const int32_t* v = m.i32();
  for (int64_t r = 0; m.device == Device::CPU && r < m.numel(); ++r)
    if (v[r] != 0 && v[r] != 1)
      c.fail_range("inputs.mask[" + std::to_string(r) + "] = " + std::to_string(v[r]) + " must be 0 or 1");
  const double flag = c.num_attr("norm_pix", 0.0);
  if (flag != 0.0 && flag != 1.0) type_error(c.op_ + ": attrs.norm_pix must be a boolean");
  const bool norm_pix = flag != 0.0;
  if (norm_pix && p.dim(1) < 2)
    c.fail_range("attrs.norm_pix needs rows of at least 2 values (the unbiased variance of one value is "
                 "undefined), inputs.pred has shape " + p.shape_str());
  return norm_pix;
}

// The upstream gradient of a scalar loss: [1].
void check_dloss(const OpCall& c) { c.expect_dim("dloss", c.input("dloss", DType::F32, 1), 0, 1, "the loss is a scalar"); }

void register_loss_ops() {
  register_op({"dice_loss_forward", {"logits", "target"}, {},
               [](OpCall& c) {
                 check_dice(c);
                 c.declare_output("loss", {1});
               },
               [](OpCall& c) {
                 ops::dice_loss_forward(c.inputs_.at("logits"), c.inputs_.at("target"), c.output("loss"));
               }});
  register_op({"dice_loss_backward", {"logits", "target", "dloss"}, {},
               [](OpCall& c) {
                 Tensor x = check_dice(c);
                 check_dloss(c);
                 c.declare_output("dlogits", dims_of(x));
               },
               [](OpCall& c) {
                 ops::dice_loss_backward(c.inputs_.at("logits"), c.inputs_.at("target"), c.inputs_.at("dloss"),
                                         c.output("dlogits"));
               }});
  register_op({"masked_mse_forward", {"pred", "target", "mask"}, {"norm_pix"},
               [](OpCall& c) {
                 check_masked_mse(c);
                 c.declare_output("loss", {1});
               },
               [](OpCall& c) {
                 ops::masked_mse_forward(c.inputs_.at("pred"), c.inputs_.at("target"), c.inputs_.at("mask"),
                                         c.output("loss"), c.num_attr("norm_pix", 0.0) != 0.0);
               }});
  register_op({"masked_mse_backward", {"pred", "target", "mask", "dloss"}, {"norm_pix"},
               [](OpCall& c) {
                 check_masked_mse(c);
                 check_dloss(c);
                 c.declare_output("dpred", dims_of(c.inputs_.at("pred")));
               },
               [](OpCall& c) {
                 ops::masked_mse_backward(c.inputs_.at("pred"), c.inputs_.at("target"), c.inputs_.at("mask"),
                                          c.inputs_.at("dloss"), c.output("dpred"), c.num_attr("norm_pix", 0.0) != 0.0);
               }});
}

}  // namespace
AMAE_REGISTER_OPS(register_loss_ops);
}  // namespace amae::napi
