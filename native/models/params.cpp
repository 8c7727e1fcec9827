#include "params.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "../core/rng.h"

namespace amae::models {
namespace {

// Each parameter starts on a 64-byte boundary (one cache line, one AVX-512 vector).
constexpr int64_t kAlignFloats = 16;

std::unique_ptr<float[], void (*)(float*)> aligned_floats(int64_t n) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(n, kAlignFloats)) * sizeof(float);
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return {static_cast<float*>(p), [](float* q) { std::free(q); }};
}

Tensor view(float* base, const Param& p) {
  Tensor t;
  t.data = base + p.offset;
  t.ndim = static_cast<int>(p.shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = p.shape[static_cast<size_t>(i)];
  return t;
}

}  // namespace

int ParamStore::add(std::string name, std::vector<int64_t> shape, Init init, bool decay, bool trainable) {
  AMAE_CHECK(!values_, "ParamStore::add after finalize");
  AMAE_CHECK(shape.size() <= static_cast<size_t>(kMaxDims), name + ": too many dimensions");
  Param p;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.init = init;
  p.decay = decay;
  p.trainable = trainable;
  p.numel = 1;
  for (int64_t s : p.shape) p.numel *= s;
  p.offset = total_;
  total_ += (p.numel + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  params_.push_back(std::move(p));
  return static_cast<int>(params_.size() - 1);
}

void ParamStore::finalize() {
  values_ = aligned_floats(total_);
  grads_ = aligned_floats(total_);
  m_ = aligned_floats(total_);
  v_ = aligned_floats(total_);
  for (Param& p : params_) {
    p.value = view(values_.get(), p);
    p.grad = view(grads_.get(), p);
    p.m = view(m_.get(), p);
    p.v = view(v_.get(), p);
    if (p.trainable) slots_.push_back(AdamWSlot{p.value, p.grad, p.m, p.v, p.decay});
  }
  // Untrained parameters (and the alignment gaps) keep zero gradients, so the norm over the
  // whole buffer is the trainable parameters' and clipping needs no per-tensor split.
  all_grads_ = {Tensor(grads_.get(), {total_})};
}

void ParamStore::initialize(uint64_t seed) {
  for (Param& p : params_) {
    float* x = p.value.f32();
    Rng rng(seed, p.name);
    const Init& in = p.init;
    for (int64_t i = 0; i < p.numel; ++i) {
      switch (in.kind) {
        case Init::Kind::Constant: x[i] = float(in.a); break;
        case Init::Kind::XavierUniform: {
          const double bound = std::sqrt(6.0 / (in.a + in.b));
          x[i] = float(rng.uniform(-bound, bound));
          break;
        }
        case Init::Kind::Uniform: x[i] = float(rng.uniform(-in.a, in.a)); break;
        case Init::Kind::Normal: x[i] = float(rng.normal() * in.a); break;
        case Init::Kind::TruncNormal: x[i] = float(rng.trunc_normal(in.a)); break;
        case Init::Kind::Fixed: break;
      }
    }
  }
  reset_optimizer();
}

int ParamStore::find(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

void ParamStore::zero_grads() { std::memset(grads_.get(), 0, static_cast<size_t>(total_) * sizeof(float)); }

double ParamStore::clip_grad_norm(double max_norm) {
  // An infinite bound never clips: the same pass then only measures.
  const float bound = max_norm > 0 ? static_cast<float>(max_norm) : std::numeric_limits<float>::infinity();
  return ops::clip_grad_norm(all_grads_, bound);
}

void ParamStore::adamw_step(double lr, double beta1, double beta2, double eps, double weight_decay) {
  ops::adamw_step_multi(slots_, lr, beta1, beta2, eps, weight_decay, ++step_);
}

void ParamStore::reset_optimizer() {
  std::memset(m_.get(), 0, static_cast<size_t>(total_) * sizeof(float));
  std::memset(v_.get(), 0, static_cast<size_t>(total_) * sizeof(float));
  step_ = 0;
}

}  // namespace amae::models
