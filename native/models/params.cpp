#include "params.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../core/rng.h"

namespace amae::models {
namespace {

// Each parameter starts on a 64-byte boundary (one cache line, one AVX-512 vector).
constexpr int64_t kAlignFloats = 16;

// One of the store's buffers: n floats (at least one alignment unit) on the device, 64-byte
// aligned host memory on the CPU (memory::alloc), zero-filled.
memory::Buffer zeroed_floats(Device d, int64_t n) {
  memory::Buffer b(d, static_cast<size_t>(std::max<int64_t>(n, kAlignFloats)) * sizeof(float));
  memory::zero(Tensor(b.data(), {static_cast<int64_t>(b.bytes() / sizeof(float))}, DType::F32, d));
  return b;
}

Tensor view(void* buffer, const Param& p, Device d) {
  Tensor t;
  t.data = static_cast<float*>(buffer) + p.offset;
  t.device = d;
  t.ndim = static_cast<int>(p.shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = p.shape[static_cast<size_t>(i)];
  return t;
}

}  // namespace

int ParamStore::add(std::string name, std::vector<int64_t> shape, Init init, bool decay, bool trainable) {
  AMAE_CHECK(!finalized_, "ParamStore::add after finalize");
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
  AMAE_CHECK(!finalized_, "ParamStore::finalize twice");
  finalized_ = true;
  values_ = zeroed_floats(device_, total_);
  for (Param& p : params_) p.value = view(values_.data(), p, device_);
}

void ParamStore::ensure_training() {
  AMAE_CHECK(finalized_, "ParamStore::ensure_training before finalize");
  if (training_) return;
  training_ = true;
  grads_ = zeroed_floats(device_, total_);
  m_ = zeroed_floats(device_, total_);
  v_ = zeroed_floats(device_, total_);
  for (Param& p : params_) {
    p.grad = view(grads_.data(), p, device_);
    p.m = view(m_.data(), p, device_);
    p.v = view(v_.data(), p, device_);
    if (p.trainable) slots_.push_back(AdamWSlot{p.value, p.grad, p.m, p.v, p.decay});
  }
  // Untrained parameters (and the alignment gaps) keep zero gradients, so the norm over the
  // whole buffer is the trainable parameters' and clipping needs no per-tensor split.
  all_grads_ = {flat(grads_)};
}

void ParamStore::initialize(uint64_t seed) {
  // The draws run on the host: in place on the CPU; on CUDA into a host copy of the values (so
  // that Fixed tables keep theirs), uploaded whole at the end.
  memory::Buffer staging;
  float* base = static_cast<float*>(values_.data());
  if (device_ != Device::CPU) {
    staging = memory::Buffer(Device::CPU, static_cast<size_t>(total_) * sizeof(float));
    base = static_cast<float*>(staging.data());
    memory::copy(Tensor(base, {total_}), flat(values_));
  }
  for (Param& p : params_) {
    float* x = base + p.offset;
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
  if (device_ != Device::CPU) memory::copy(flat(values_), Tensor(base, {total_}));
  reset_optimizer();
}

void ParamStore::set_value(int i, const float* host, int64_t n) {
  const Param& p = params_.at(static_cast<size_t>(i));
  AMAE_CHECK(finalized_ && n == p.numel, "ParamStore::set_value: " + p.name + " holds " + std::to_string(p.numel) +
                                             " values, got " + std::to_string(n));
  memory::copy(p.value, Tensor(const_cast<float*>(host), {n}));
}

int ParamStore::find(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

void ParamStore::zero_grads() {
  ensure_training();
  memory::zero(flat(grads_));
}

double ParamStore::clip_grad_norm(double max_norm) {
  ensure_training();
  // An infinite bound never clips: the same pass then only measures.
  const float bound = max_norm > 0 ? static_cast<float>(max_norm) : std::numeric_limits<float>::infinity();
  return ops::clip_grad_norm(all_grads_, bound);
}

void ParamStore::adamw_step(double lr, double beta1, double beta2, double eps, double weight_decay) {
  ensure_training();
  ops::adamw_step_multi(slots_, lr, beta1, beta2, eps, weight_decay, ++step_);
}

void ParamStore::reset_optimizer() {
  // Moments not allocated yet are zero when they are.
  if (training_) {
    memory::zero(flat(m_));
    memory::zero(flat(v_));
  }
  step_ = 0;
}

}  // namespace amae::models
