#include "model.h"

#include <atomic>
#include <cmath>
#include <stdexcept>

#include "../core/threads.h"

namespace amae::models {

std::vector<int64_t> Model::encode_shape(const Batch&) const {
  throw std::runtime_error(std::string("a ") + kind() + " model has no ViT encoder to encode with");
}

void Model::encode(const Batch& batch, const Tensor&) { encode_shape(batch); }

StepResult Model::train_step(const Batch& batch, const OptimConfig& opt) {
  StepResult r;
  r.loss = loss_and_grads(batch);
  r.grad_norm = store_.clip_grad_norm(opt.max_grad_norm);
  // A non-finite loss or gradient would write NaN into every weight and moment: skip instead.
  r.updated = std::isfinite(r.loss) && std::isfinite(r.grad_norm);
  if (r.updated) store_.adamw_step(opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay);
  return r;
}

void check_finite(const Tensor& x, const std::string& what) {
  AMAE_CHECK(x.device == Device::CPU, "check_finite reads host memory");
  const float* p = x.f32();
  // The first non-finite value (lowest index), scanned in parallel; the minimum makes the answer
  // independent of the scheduling.
  std::atomic<int64_t> first{-1};
  parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      if (!std::isfinite(p[i])) {
        int64_t cur = first.load();
        while ((cur < 0 || i < cur) && !first.compare_exchange_weak(cur, i)) {
        }
        return;
      }
  });
  const int64_t bad = first.load();
  if (bad < 0) return;
  const float v = p[bad];
  // Name the volume and the voxel [h, w, d] (the last three dims; a channel dim counts as volumes).
  const int64_t H = x.dim(-3), W = x.dim(-2), D = x.dim(-1), per = H * W * D, at = bad % per;
  throw std::runtime_error(what + " holds " + std::string(std::isnan(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity") +
                           " in volume " + std::to_string(bad / per) + " at voxel [" + std::to_string(at / (W * D)) +
                           ", " + std::to_string(at / D % W) + ", " + std::to_string(at % D) + "]");
}

Tensor on_device(Arena& arena, const Tensor& host) {
  if (arena.device() == host.device) return host;
  Tensor t = host;
  t.device = arena.device();
  t.data = arena.alloc(static_cast<size_t>(host.numel()) * dtype_size(host.dtype));
  memory::copy(t, host);
  return t;
}

}  // namespace amae::models
