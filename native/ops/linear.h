// Dense contractions: the fully connected layer and the batched matrix product (attention).
// Backward ops ADD into their gradient outputs (see native/README.md); a gradient output that is
// an empty Tensor (data == nullptr) is not computed.
#pragma once
#include "../core/backend.h"

namespace amae {

// y[N, out] = x[N, in] · w[out, in]ᵀ + b[out], as PyTorch's nn.Linear. b may be empty (no bias).
AMAE_OP(linear_forward, (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y), (x, w, b, y))
// dx[N, in] += dy · w;  dw[out, in] += dyᵀ · x;  db[out] += Σ_rows dy.
AMAE_OP(linear_backward,
        (const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db),
        (x, w, dy, dx, dw, db))

// c[B, M, N] = alpha · op(a) · op(b) per batch entry, where op(a) is a[B, M, K] or, with trans_a,
// the transpose of a[B, K, M]; op(b) is b[B, K, N] or, with trans_b, the transpose of b[B, N, K].
// alpha folds a scale (attention's 1/√d) into the product for free.
AMAE_OP(matmul_forward, (const Tensor& a, const Tensor& b, const Tensor& c, bool trans_a, bool trans_b, float alpha),
        (a, b, c, trans_a, trans_b, alpha))
// da += ∂L/∂a and db += ∂L/∂b (each in its input's stored layout) for dc = ∂L/∂c.
AMAE_OP(matmul_backward,
        (const Tensor& a, const Tensor& b, const Tensor& dc, const Tensor& da, const Tensor& db, bool trans_a,
         bool trans_b, float alpha),
        (a, b, dc, da, db, trans_a, trans_b, alpha))

}  // namespace amae
