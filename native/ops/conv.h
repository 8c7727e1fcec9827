// 3D convolutions on volumes [N, C, H, W, D] (D fastest), with PyTorch's semantics and weight
// layouts. An absent bias or gradient is a Tensor with data == nullptr. Backward ops ADD into
// each gradient they are given and skip the absent ones.
#pragma once
#include "../core/backend.h"

namespace amae {

// y[n, o] = b[o] + Σ_i w[o, i] ⋆ x[n, i]: cross-correlation, stride 1, zero padding k/2, so y keeps
// x's size. x [N, Ci, H, W, D], w [Co, Ci, k, k, k] with k ∈ {1, 3}, b [Co], y [N, Co, H, W, D].
AMAE_OP(conv3d_forward, (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y), (x, w, b, y))
AMAE_OP(conv3d_backward,
        (const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db),
        (x, w, dy, dx, dw, db))

// Transposed convolution, kernel 2, stride 2 (the UNETR/U-Net upsampler): every input voxel
// writes its own 2×2×2 output block, y[n, o, 2h+a, 2w+b, 2d+c] = b[o] + Σ_i x[n, i, h, w, d]·
// w[i, o, a, b, c]. x [N, Ci, H, W, D], w [Ci, Co, 2, 2, 2], b [Co], y [N, Co, 2H, 2W, 2D].
AMAE_OP(conv_transpose3d_forward, (const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y), (x, w, b, y))
AMAE_OP(conv_transpose3d_backward,
        (const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx, const Tensor& dw, const Tensor& db),
        (x, w, dy, dx, dw, db))

}  // namespace amae
