// Patch embedding: a Conv3d with kernel = stride = p whose output is laid out as tokens,
// y[n, q, e] with patch index q = (gh·Gw + gw)·Gd + gd (spec §1), G = (H, W, D) / p.
// With per-sample scales it is the Dynamic Convolution Tokenizer (spec §2.1):
//   y[n, q, e] = sw[n, e]·Σ_{c,v} w[e, c, v]·x[n, c, patch q, v] + sb[n, e]·b[e],
// an absent sw or sb counting as ones and an absent b as zeros, so without them it is UNETR's
// plain Conv3d(C → E, k = s = p) embedding. Shapes: x [N, C, H, W, D], w [E, C, p, p, p], b [E],
// sw and sb [N, E], y [N, P, E]. Backward ADDS into every gradient given and skips absent ones.
#pragma once
#include "../core/backend.h"

namespace amae {

AMAE_OP(patch_embed_forward,
        (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb, const Tensor& y,
         int64_t p),
        (x, w, b, sw, sb, y, p))
AMAE_OP(patch_embed_backward,
        (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sw, const Tensor& sb, const Tensor& dy,
         const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dsw, const Tensor& dsb, int64_t p),
        (x, w, b, sw, sb, dy, dx, dw, db, dsw, dsb, p))

}  // namespace amae
