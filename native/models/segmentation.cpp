#include "segmentation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../ops/loss.h"

namespace amae::models {

SegmentationModel::SegmentationModel(Device device, const int64_t size[3], int64_t classes, std::vector<int> slots)
    : Model(device), size_{size[0], size[1], size[2]}, classes_(classes), slots_(std::move(slots)) {}

BatchSpec SegmentationModel::batch_spec() const {
  BatchSpec s;
  for (int i = 0; i < 3; ++i) s.size[i] = size_[i];
  s.classes = classes_;
  if (!slots_.empty()) {
    s.accepted = 0;
    for (int k : slots_) s.accepted |= 1u << k;
  }
  return s;
}

std::vector<int64_t> SegmentationModel::output_shape(const Batch& b) const {
  return {b.count(), classes_, size_[0], size_[1], size_[2]};
}

Tensor SegmentationModel::stack_slots(const Batch& b) {
  const int64_t S = b.count(), C = static_cast<int64_t>(slots_.size()), V = size_[0] * size_[1] * size_[2];
  int slot_of[kContrasts];
  std::fill(slot_of, slot_of + kContrasts, -1);
  for (int64_t c = 0; c < C; ++c) slot_of[slots_[static_cast<size_t>(c)]] = static_cast<int>(c);
  const int32_t* contrast = b.contrasts.i32();
  const int32_t* subject = b.subjects.i32();
  const float* volumes = b.volumes.f32();
  return host_built(arena_, staging_, {S, C, size_[0], size_[1], size_[2]}, DType::F32, [&](void* p) {
    float* x = static_cast<float*>(p);
    std::memset(x, 0, sizeof(float) * static_cast<size_t>(S * C * V));
    for (int64_t s = 0; s < S; ++s)
      for (int32_t n = subject[s]; n < subject[s + 1]; ++n) {
        const int c = slot_of[contrast[n]];
        AMAE_CHECK(c >= 0, "stack_slots: a contrast without a slot (the binding checks batches)");
        std::memcpy(x + (s * C + c) * V, volumes + int64_t(n) * V, sizeof(float) * static_cast<size_t>(V));
      }
  });
}

float SegmentationModel::forward_and_loss(const Batch& b) {
  arena_.reset();
  check_finite(b.volumes, "batch.volumes");
  logits_ = run_forward(b);
  labels_ = loss_ = Tensor();
  if (!b.labels.data) return std::numeric_limits<float>::quiet_NaN();
  check_finite(b.labels, "batch.labels");
  labels_ = on_device(arena_, b.labels);
  loss_ = device() == Device::CPU ? Tensor(&loss_host_, {1}) : arena_.zeros({1});
  ops::dice_loss_forward(logits_, labels_, loss_);
  return 0;
}

float SegmentationModel::loss_and_grads(const Batch& b) {
  AMAE_CHECK(b.labels.data, "loss_and_grads: a segmentation batch needs labels (the binding checks it)");
  store_.zero_grads();
  forward_and_loss(b);
  const Tensor one = host_built(arena_, staging_, {1}, DType::F32, [](void* p) { *static_cast<float*>(p) = 1.0f; });
  const Tensor dlogits = arena_.zeros({logits_.dim(0), logits_.dim(1), logits_.dim(2), logits_.dim(3), logits_.dim(4)});
  ops::dice_loss_backward(logits_, labels_, one, dlogits);
  run_backward(dlogits);
  return loss_value();
}

float SegmentationModel::loss_value() {
  if (device() == Device::CPU) return loss_host_;
  float loss = 0;
  memory::copy(Tensor(&loss, {1}), loss_);  // waits for the work queued before it
  return loss;
}

float SegmentationModel::forward(const Batch& b, const Tensor& logits) {
  const float none = forward_and_loss(b);
  memory::copy(logits, logits_);
  return loss_.data ? loss_value() : none;
}

std::vector<int> unetr_taps(int64_t depth) {
  std::vector<int> taps;
  // round_half_up(L·j / 12) = floor((2·L·j + 12) / 24), in integers.
  for (int64_t j : {4, 7, 10}) taps.push_back(static_cast<int>(std::max<int64_t>(1, (2 * depth * j + 12) / 24) - 1));
  return taps;
}

}  // namespace amae::models
