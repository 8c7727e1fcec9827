// Element-wise ops: activations and the residual add. Conventions shared by every op header:
//  - outputs are views the caller allocated; forward ops overwrite them;
//  - backward ops ADD into their gradient outputs (llm.c style), so a tensor used twice
//    accumulates both contributions and callers zero gradients once per step.
#pragma once
#include "../core/backend.h"

namespace amae {

// y = x · Φ(x), the exact (erf) GELU as PyTorch's default.
AMAE_OP(gelu_forward, (const Tensor& x, const Tensor& y), (x, y))
AMAE_OP(gelu_backward, (const Tensor& x, const Tensor& dy, const Tensor& dx), (x, dy, dx))

// y = x > 0 ? x : slope · x
AMAE_OP(leaky_relu_forward, (const Tensor& x, const Tensor& y, float slope), (x, y, slope))
// Uses the forward output (sign(y) = sign(x) for slope > 0), so x need not be kept.
AMAE_OP(leaky_relu_backward, (const Tensor& y, const Tensor& dy, const Tensor& dx, float slope), (y, dy, dx, slope))

// y = a + b (same shapes), the residual connections of a transformer block. y may be a or b
// (in place). Its gradient is dy for both inputs, so there is no add_backward: a caller lets
// both branches accumulate into one gradient buffer.
AMAE_OP(add_forward, (const Tensor& a, const Tensor& b, const Tensor& y), (a, b, y))

}  // namespace amae
