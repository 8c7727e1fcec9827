// Training losses. Each forward writes a scalar `loss` ([1]); each backward takes the scalar
// upstream gradient `dloss` ([1]) and ADDS into the gradient of the prediction. Targets get no
// gradient. Sums are accumulated in double over fixed chunks reduced in a fixed order, so the
// result does not depend on the thread count.
#pragma once
#include "../core/backend.h"

namespace amae {

// Smoothing of MONAI's DiceLoss defaults (smooth_nr = smooth_dr = 1e-5), fixed by the spec (§4).
constexpr double kDiceSmooth = 1e-5;

// Soft Dice loss on sigmoid probabilities, as MONAI DiceLoss(sigmoid=True, squared_pred=False,
// reduction="mean") with the default per-sample, per-class reduction. logits and target are
// [N, C, ...spatial] (target in [0, 1]); with p = σ(logits) and, per (n, c),
// I = Σ p·g, P = Σ p, G = Σ g:  loss = mean over N·C of 1 − (2I + s) / (P + G + s).
AMAE_OP(dice_loss_forward, (const Tensor& logits, const Tensor& target, const Tensor& loss), (logits, target, loss))
AMAE_OP(dice_loss_backward, (const Tensor& logits, const Tensor& target, const Tensor& dloss, const Tensor& dlogits),
        (logits, target, dloss, dlogits))

// Epsilon added to the per-row variance by the normalised-pixel target (as MAE).
constexpr double kNormPixEps = 1e-6;

// The MAE reconstruction loss (spec §2.6): pred and target are [R, L] (one row per patch), mask
// is Int32 [R] (non-zero = the patch was masked and counts). loss = Σ over masked rows r and j
// of (pred − t̂)² / (n_masked · L), where t̂ = target, or with norm_pix the row-normalised target
// (t − mean_r) / sqrt(var_r + 1e-6) with the unbiased variance (needs L ≥ 2). No masked row
// (or L = 0) gives loss 0 and no gradient rather than 0/0.
AMAE_OP(masked_mse_forward,
        (const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& loss, bool norm_pix),
        (pred, target, mask, loss, norm_pix))
AMAE_OP(masked_mse_backward,
        (const Tensor& pred, const Tensor& target, const Tensor& mask, const Tensor& dloss, const Tensor& dpred,
         bool norm_pix),
        (pred, target, mask, dloss, dpred, norm_pix))

}  // namespace amae
