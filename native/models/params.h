// The parameter store of a model: every parameter named as in the checkpoint (spec §6), its
// values, gradients and AdamW moments each in ONE contiguous buffer (the last three allocated
// when training first needs them), so zeroing the gradients,
// clipping them and the optimiser step are single passes over the whole model. The store lives on
// one device (its buffers through memory::); its views are that device's tensors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/memory.h"
#include "../core/tensor.h"
#include "../ops/optim.h"

namespace amae::models {

// How a parameter starts (spec §2.1, §2.7). Random kinds draw from the parameter's own stream
// Rng(seed, name) (core/rng.h), so its values depend only on the seed and its name.
struct Init {
  enum class Kind { Constant, XavierUniform, Uniform, Normal, TruncNormal, Fixed };
  Kind kind;
  double a = 0, b = 0;  // Constant: value; XavierUniform: fan_in, fan_out; Uniform: bound; (Trunc)Normal: std

  static Init constant(double v) { return {Kind::Constant, v}; }
  // U(±sqrt(6 / (fan_in + fan_out))), PyTorch's xavier_uniform_.
  static Init xavier(int64_t fan_in, int64_t fan_out) { return {Kind::XavierUniform, double(fan_in), double(fan_out)}; }
  static Init uniform(double bound) { return {Kind::Uniform, bound}; }
  static Init normal(double std) { return {Kind::Normal, std}; }
  // N(0, std²) truncated at ±2·std.
  static Init trunc_normal(double std) { return {Kind::TruncNormal, std}; }
  // Values the model computes itself (a fixed sin-cos table); initialize() leaves them alone.
  static Init fixed() { return {Kind::Fixed}; }
};

struct Param {
  std::string name;
  std::vector<int64_t> shape;
  Init init;
  bool decay;      // AdamW weight decay applies (not on biases, norms, embeddings, mask token)
  bool trainable;  // updated by the optimiser and given a gradient
  int64_t offset = 0, numel = 0;
  Tensor value, grad, m, v;  // views into the store's buffers: value after finalize(), the rest after ensure_training()
};

class ParamStore {
 public:
  explicit ParamStore(Device device = Device::CPU) : device_(device) {}
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  // Declares a parameter before finalize(); returns its index (what modules keep).
  int add(std::string name, std::vector<int64_t> shape, Init init, bool decay, bool trainable = true);
  // Allocates the values (zeroed) and points every parameter's value view into them.
  void finalize();
  // Allocates the gradients and AdamW moments (zeroed) and their views, once: a model that only
  // predicts never does, and holds a quarter of a training model's parameter memory. Every
  // training entry point (zero_grads, clipping, the step) calls it.
  void ensure_training();
  bool training() const { return training_; }
  // Fills every non-Fixed parameter from its init and the seed (on the host, then uploaded when
  // the store is on CUDA); resets the optimiser.
  void initialize(uint64_t seed);
  // Sets a parameter's values from n host floats (n == its numel): how a model fills its Fixed
  // tables, computed on the host, on any device.
  void set_value(int i, const float* host, int64_t n);

  Device device() const { return device_; }

  Param& operator[](int i) { return params_[static_cast<size_t>(i)]; }
  const Param& operator[](int i) const { return params_[static_cast<size_t>(i)]; }
  const std::vector<Param>& all() const { return params_; }
  int find(const std::string& name) const;  // −1 when absent
  int64_t total() const { return total_; }

  void zero_grads();
  // The global L2 norm of the gradients; with max_norm > 0 they are first clipped to it as
  // torch.nn.utils.clip_grad_norm_ does. Non-finite norms leave the gradients untouched.
  double clip_grad_norm(double max_norm);
  // One AdamW step over every trainable parameter (weight decay only where decay is set).
  void adamw_step(double lr, double beta1, double beta2, double eps, double weight_decay);
  int64_t step() const { return step_; }
  void set_step(int64_t s) { step_ = s; }
  // Zeroes the moments and the step count.
  void reset_optimizer();

 private:
  Device device_;
  bool finalized_ = false, training_ = false;
  std::vector<Param> params_;
  std::vector<AdamWSlot> slots_;  // built once: the optimiser allocates nothing per step
  std::vector<Tensor> all_grads_;  // the whole gradient buffer as one tensor, for clipping
  int64_t total_ = 0, step_ = 0;
  memory::Buffer values_, grads_, m_, v_;  // total_ floats each, zeroed by finalize()
  // The whole buffer as one flat tensor.
  Tensor flat(const memory::Buffer& b) const { return Tensor(b.data(), {total_}, DType::F32, device_); }
};

}  // namespace amae::models
