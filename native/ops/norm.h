// Normalisation layers of the segmentation decoders (spec §3: MONAI's UNETR blocks and the U-Net
// use InstanceNorm3d without affine parameters).
#pragma once
#include "../core/backend.h"

namespace amae {

// Instance norm without affine parameters, as PyTorch's InstanceNorm3d(affine=False) in training:
// per (n, c), y = (x − mean) · rstd with rstd = 1/sqrt(var + eps) and the biased variance.
// x and y are [N, C, ...spatial] of any rank ≥ 3 (V = the product of the spatial dims, ≥ 1);
// mean and rstd [N, C] are written for the backward. Statistics are summed in double, so a
// 96³ volume loses no accuracy to float32 accumulation.
AMAE_OP(instance_norm_forward, (const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps),
        (x, y, mean, rstd, eps))
// dx += rstd · (dy − mean(dy) − x̂ · mean(dy · x̂)), x̂ = (x − mean) · rstd, per (n, c).
AMAE_OP(instance_norm_backward,
        (const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& dy, const Tensor& dx),
        (x, mean, rstd, dy, dx))

// Instance norm fused with LeakyReLU (the ConvNormAct unit of the UNETR blocks and the U-Net):
// y = lrelu((x − mean)·rstd, slope), slope = 1 for none (LeakyReLU with slope 1 is the identity,
// exactly). y may be x (in place): the unit then keeps one tensor where norm and activation apart
// keep two. mean and rstd [N, C] as instance_norm_forward; y is bit-identical to
// instance_norm_forward followed by leaky_relu_forward.
AMAE_OP(instance_norm_act_forward,
        (const Tensor& x, const Tensor& y, const Tensor& mean, const Tensor& rstd, float eps, float slope),
        (x, y, mean, rstd, eps, slope))
// The backward from the forward's OUTPUT alone (slope > 0, so LeakyReLU inverts): x̂ = y > 0 ? y :
// y / slope, dn = y > 0 ? dy : slope·dy, then dx += rstd · (dn − mean(dn) − x̂ · mean(dn · x̂)).
AMAE_OP(instance_norm_act_backward,
        (const Tensor& y, const Tensor& rstd, const Tensor& dy, const Tensor& dx, float slope),
        (y, rstd, dy, dx, slope))

}  // namespace amae
