// Layer normalisation over the last dimension of a token matrix (the ViT blocks' LN1/LN2 and
// the final norms). Conventions as in activation.h: forward overwrites, backward adds.
#pragma once
#include "../core/backend.h"

namespace amae {

// x, y: [T, C]; w, b: [C]; mean, rstd: [T] (saved for the backward).
// y = (x − mean) · rstd · w + b with rstd = 1/sqrt(var + eps), var the biased variance.
AMAE_OP(layernorm_forward,
        (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y, const Tensor& mean, const Tensor& rstd,
         float eps),
        (x, w, b, y, mean, rstd, eps))
// dx += ∂L/∂x, dw += ∂L/∂w, db += ∂L/∂b given dy = ∂L/∂y and the forward's mean and rstd.
AMAE_OP(layernorm_backward,
        (const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& dy, const Tensor& dx,
         const Tensor& dw, const Tensor& db),
        (x, w, mean, rstd, dy, dx, dw, db))

}  // namespace amae
