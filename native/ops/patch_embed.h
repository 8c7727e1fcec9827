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

// Patch extraction, the first half of the embedding on its own: patches[n, q] is patch q of
// sample n flattened in (c, ph, pw, pd) order, so patches [N, P, C·p³] of x [N, C, H, W, D].
// AMAE uses the rows as the DCT's input and as the reconstruction target (spec §2.6).
AMAE_OP(patchify_forward, (const Tensor& x, const Tensor& patches, int64_t p), (x, patches, p))
// dx += the patches put back in place. Patches do not overlap, so on a zeroed dx this is the
// exact inverse of patchify_forward (how a reconstruction becomes a volume again).
AMAE_OP(patchify_backward, (const Tensor& dpatches, const Tensor& dx, int64_t p), (dpatches, dx, p))

// The embedding of patches already extracted to rows, grouped in segments that each have their
// own scales: rows offsets[n] .. offsets[n+1] − 1 belong to sample n (Int32 offsets [N + 1],
// non-decreasing, offsets[N] = T), and
//   y[t, e] = sw[n, e]·Σ_k w[e, k]·patches[t, k] + sb[n, e]·b[e].
// This is the DCT over only the patches a model keeps (AMAE's unmasked ones), one GEMM for all
// of them. patches [T, K] with K = C·p³; w [E, C, p, p, p] (or any shape [E, ...] of E·K values);
// b [E]; sw, sb [N, E] (absent as in patch_embed_forward); y [T, E]. z [T, E], if given, receives
// the unscaled products Σ_k w[e, k]·patches[t, k]: the backward needs them for dsw.
AMAE_OP(patch_embed_rows_forward,
        (const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b, const Tensor& sw,
         const Tensor& sb, const Tensor& z, const Tensor& y),
        (patches, offsets, w, b, sw, sb, z, y))
// Adds into every gradient given (dpatches [T, K], dw, db, dsw, dsb) and skips absent ones; dsw
// needs the forward's z.
AMAE_OP(patch_embed_rows_backward,
        (const Tensor& patches, const Tensor& offsets, const Tensor& w, const Tensor& b, const Tensor& sw,
         const Tensor& sb, const Tensor& z, const Tensor& dy, const Tensor& dpatches, const Tensor& dw,
         const Tensor& db, const Tensor& dsw, const Tensor& dsb),
        (patches, offsets, w, b, sw, sb, z, dy, dpatches, dw, db, dsw, dsb))

}  // namespace amae
