// Max reductions that keep their arg-max for the backward: the U-Net's 2×2×2 down-sampling and
// Adaptive UNETR's max over a subject's contrasts (spec §3).
#pragma once
#include "../core/backend.h"

namespace amae {

// PyTorch's MaxPool3d(2): x [N, C, H, W, D] → y [N, C, H/2, W/2, D/2] (floor: an odd size drops
// its last plane). argmax (Int32, y's shape) is the winner's flat index h·W·D + w·D + d within
// its (n, c) input volume. Ties go to the first element in (h, w, d) order; a NaN wins its
// window (the first NaN if several), so NaNs propagate as in PyTorch.
AMAE_OP(maxpool3d_forward, (const Tensor& x, const Tensor& y, const Tensor& argmax), (x, y, argmax))
// dx[n, c, argmax] += dy. Every argmax must lie in its own 2×2×2 window (the binding checks it),
// which makes output rows write disjoint input rows and the scatter race-free.
AMAE_OP(maxpool3d_backward, (const Tensor& argmax, const Tensor& dy, const Tensor& dx), (argmax, dy, dx))

// Max over groups of rows: x [R, M], groups given by Int32 offsets [S + 1] (offsets[0] = 0,
// strictly increasing, offsets[S] = R: rows offsets[s] .. offsets[s+1] − 1 are subject s's
// contrasts). y[s, m] = max over the group's rows of x[r, m]; argmax [S, M] holds the winning
// row r itself (absolute, so the backward needs no offsets). M is everything after dim 0 (a
// token map P·E, or a C·V volume). Ties go to the lowest row; a NaN wins as in maxpool3d.
AMAE_OP(group_max_forward, (const Tensor& x, const Tensor& offsets, const Tensor& y, const Tensor& argmax),
        (x, offsets, y, argmax))
// dx[argmax[s, m], m] += dy[s, m]; dx is [R, M] with every argmax in [0, R).
AMAE_OP(group_max_backward, (const Tensor& argmax, const Tensor& dy, const Tensor& dx), (argmax, dy, dx))

}  // namespace amae
