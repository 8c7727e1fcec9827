// What the three segmentation models (UNETR, Adaptive UNETR, U-Net; spec §3) share: logits
// [S, classes, H, W, D] for a batch of subjects, MONAI's soft Dice loss on their sigmoid (spec §4),
// the labels' upload, and the channel slots of the models that stack contrasts as input channels.
// Each model writes only its forward (batch → logits) and its backward (∂L/∂logits → parameter
// gradients), side by side.
#pragma once
#include <cstdint>
#include <vector>

#include "model.h"

namespace amae::models {

class SegmentationModel : public Model {
 public:
  BatchSpec batch_spec() const override;
  std::vector<int64_t> output_shape(const Batch& batch) const override;
  float loss_and_grads(const Batch& batch) override;
  float forward(const Batch& batch, const Tensor& logits) override;

 protected:
  // slots: the registry ids the model takes as input channels, in order (empty: any contrast).
  SegmentationModel(Device device, const int64_t size[3], int64_t classes, std::vector<int> slots);

  // The logits of the batch (after arena_ has been reset and the volumes checked).
  virtual Tensor run_forward(const Batch& batch) = 0;
  // Parameter gradients from dlogits = ∂L/∂logits (the store's gradients are zeroed).
  virtual void run_backward(const Tensor& dlogits) = 0;

  // The batch as input channels [S, C, H, W, D], each contrast in its slot and every slot a subject
  // lacks a zero volume (spec §3), on the model's device.
  Tensor stack_slots(const Batch& batch);

  int64_t size_[3], classes_;
  std::vector<int> slots_;
  memory::Buffer staging_;  // host memory for uploads (CUDA only)

 private:
  // Runs the forward and, with labels, the Dice loss: the loss on the host (NaN without labels).
  float forward_and_loss(const Batch& batch);
  float loss_value();
  Tensor logits_, labels_, loss_;
  float loss_host_ = 0;
};

// The ViT depth's skip taps (spec §3): after blocks max(1, round_half_up(L·j/12)), j = 4, 7, 10,
// as 0-based block indices; for L = 12 MONAI's hidden_states_out[3], [6], [9].
std::vector<int> unetr_taps(int64_t depth);

}  // namespace amae::models
