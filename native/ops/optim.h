// The optimiser step and gradient clipping. Unlike the other op families these UPDATE their
// tensor arguments in place (named per function below): the parameters and the optimiser state
// are long-lived buffers the caller owns.
#pragma once
#include <cmath>
#include <vector>

#include "../core/backend.h"

namespace amae {

// One AdamW step as torch.optim.AdamW (decoupled weight decay), updating param, m and v in
// place; grad is read only. `step` ≥ 1 is the number of steps taken including this one (the
// bias corrections use it). Per element:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
//   p ← p − (lr / (1 − β1^step)) · m / (sqrt(v) / sqrt(1 − β2^step) + eps)
// The scalar factors are formed in double and applied in float, in PyTorch's order, so results
// track PyTorch to rounding. Parameters without decay (biases, norms, embeddings, the mask token)
// are the caller's grouping: call with weight_decay = 0 for them.
// The per-element factors of one AdamW step, formed in double on the host as PyTorch forms them
// in Python and applied in float as its float kernels do; both backends take them from here.
struct AdamWCoef {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps;
};

inline AdamWCoef adamw_coef(double lr, double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  AMAE_CHECK(step >= 1, "adamw: step counts from 1");
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  return {float(1.0 - lr * weight_decay), float(beta1), float(1.0 - beta1), float(beta2),
          float(1.0 - beta2),             float(lr / bc1), float(std::sqrt(bc2)), float(eps)};
}

AMAE_OP(adamw_step,
        (const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
         double beta2, double eps, double weight_decay, int64_t step),
        (param, grad, m, v, lr, beta1, beta2, eps, weight_decay, step))

// out[0] = Σ x², accumulated in double over fixed chunks in a fixed order (deterministic),
// rounded to float.
AMAE_OP(grad_norm_sq, (const Tensor& x, const Tensor& out), (x, out))

// x ← s·x in place.
AMAE_OP(scale_inplace, (const Tensor& x, float s), (x, s))

// One parameter tensor with its gradient and AdamW state; `decay` selects weight decay.
struct AdamWSlot {
  Tensor param, grad, m, v;
  bool decay = true;
};

// The factor clip_grad_norm scales the gradients by, applied only when below 1 (PyTorch's
// max_norm / (norm + 1e-6), rounded to float); both backends take it from here.
inline float clip_coef(double norm, float max_norm) { return static_cast<float>(double(max_norm) / (norm + 1e-6)); }

// The multi-tensor forms below take lists, which AMAE_OP cannot dispatch on (it looks for a
// Tensor argument), so their backend choice is written out: the device of the first tensor.
namespace cpu {
// adamw_step over every slot in one parallel pass (one pool hand-off for a whole model instead
// of one per tensor); slots with decay == false use weight decay 0.
void adamw_step_multi(const std::vector<AdamWSlot>& slots, double lr, double beta1, double beta2, double eps,
                      double weight_decay, int64_t step);
// torch.nn.utils.clip_grad_norm_ (L2): returns the global norm sqrt(Σ over all grads of Σ g²)
// and, when max_norm / (norm + 1e-6) < 1, scales every gradient by that factor in place. The
// sum runs in double across all tensors (PyTorch takes the norm of per-tensor float norms; the
// two agree to float rounding). A non-finite norm is returned without touching the gradients,
// so the caller can skip the step instead of writing NaN into every gradient.
double clip_grad_norm(const std::vector<Tensor>& grads, float max_norm);
}  // namespace cpu
namespace cuda {
void adamw_step_multi(const std::vector<AdamWSlot>& slots, double lr, double beta1, double beta2, double eps,
                      double weight_decay, int64_t step);
double clip_grad_norm(const std::vector<Tensor>& grads, float max_norm);
}  // namespace cuda
namespace ops {
inline void adamw_step_multi(const std::vector<AdamWSlot>& slots, double lr, double beta1, double beta2, double eps,
                             double weight_decay, int64_t step) {
  if (!slots.empty() && slots[0].param.device == Device::CUDA) {
    AMAE_CUDA_CALL(adamw_step_multi, (slots, lr, beta1, beta2, eps, weight_decay, step));
    return;
  }
  cpu::adamw_step_multi(slots, lr, beta1, beta2, eps, weight_decay, step);
}
inline double clip_grad_norm(const std::vector<Tensor>& grads, float max_norm) {
  // A conditional rather than an if: without CUDA the first branch is a throw-expression.
  return !grads.empty() && grads[0].device == Device::CUDA ? AMAE_CUDA_CALL(clip_grad_norm, (grads, max_norm))
                                                           : cpu::clip_grad_norm(grads, max_norm);
}
}  // namespace ops

}  // namespace amae
