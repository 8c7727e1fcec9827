// UNETR (MONAI's networks/nets/unetr.py, spec §3) and Adaptive UNETR (the paper's: the AMAE
// tokenizer and encoder over every token of a subject's contrasts, each skip max-pooled over the
// contrasts), on one decoder. Parameter names are MONAI's UNETR state-dict names; Adaptive UNETR's
// `vit.*` are AMAE's, so that pre-trained AMAE weights load by name.
#pragma once
#include <cstdint>
#include <vector>

#include "blocks.h"
#include "segmentation.h"
#include "tokenizer.h"
#include "vit.h"

namespace amae::models {

struct UnetrConfig {
  int64_t size[3];  // each divisible by patch
  int64_t patch = 16;
  std::vector<int> slots;  // UNETR: the input channels' registry ids, in order (Adaptive UNETR: empty)
  int64_t feature_size;    // F
  int64_t embed_dim, depth, heads;
  int64_t mlp_ratio = 4;
  int64_t classes = 1;
  bool learned_code = false, learnable_pos = false;  // Adaptive UNETR's tokenizer options (as AMAE's)

  int64_t grid(int axis) const { return size[axis] / patch; }
  int64_t patches() const { return grid(0) * grid(1) * grid(2); }
};

// encoder1..4, decoder5..2 and out of MONAI's UNETR. Fed by encoder1's output and four feature
// volumes [N, E, G...]: the three tapped hidden states and the final normed state.
class UnetrDecoder {
 public:
  UnetrDecoder(ParamStore& store, int64_t in_channels, int64_t feature_size, int64_t hidden, int64_t classes);

  UnetrBasicBlock encoder1;  // run by the model (Adaptive UNETR runs it per contrast)
  Tensor forward(Arena& arena, const Tensor& enc1, const Tensor (&feats)[4]);
  // The gradients reaching encoder1's output and the four feature volumes are left in d_enc1()
  // and d_feat(j) (arena tensors, valid until the arena's reset), for the model to take on.
  void backward(Arena& arena, const Tensor& dlogits);
  const Tensor& d_enc1() const { return denc1_; }
  const Tensor& d_feat(int j) const { return dfeats_[j]; }

 private:
  UnetrPrUpBlock encoder2_, encoder3_, encoder4_;
  UnetrUpBlock decoder5_, decoder4_, decoder3_, decoder2_;
  UnetOutBlock out_;
  Tensor enc1_, feats_[4], enc2_, enc3_, enc4_, dec3_, dec2_, dec1_, dec0_;
  Tensor denc1_, dfeats_[4];
};

class Unetr : public SegmentationModel {
 public:
  Unetr(const UnetrConfig& config, uint64_t seed, Device device = Device::CPU);
  const char* kind() const override { return "unetr"; }
  const UnetrConfig& config() const { return cfg_; }
  std::vector<int64_t> encode_shape(const Batch& batch) const override;
  void encode(const Batch& batch, const Tensor& out) override;

 protected:
  Tensor run_forward(const Batch& batch) override;
  void run_backward(const Tensor& dlogits) override;

 private:
  void run_encoder(const Batch& batch);

  UnetrConfig cfg_;
  std::vector<int> taps_;
  int position_, patch_w_, patch_b_;  // vit.patch_embedding.*, in MONAI's state-dict order
  TransformerStack vit_;
  int norm_w_, norm_b_;
  UnetrDecoder decoder_;
  // Activations.
  Tensor x_in_, offsets_, tokens_, h_, latent_, mean_, rstd_, enc1_, feats_[4];
};

class AdaptiveUnetr : public SegmentationModel {
 public:
  AdaptiveUnetr(const UnetrConfig& config, uint64_t seed, Device device = Device::CPU);
  const char* kind() const override { return "adaptive-unetr"; }
  const UnetrConfig& config() const { return cfg_; }
  std::vector<int64_t> encode_shape(const Batch& batch) const override;
  void encode(const Batch& batch, const Tensor& out) override;

 protected:
  Tensor run_forward(const Batch& batch) override;
  void run_backward(const Tensor& dlogits) override;

 private:
  void run_encoder(const Batch& batch);

  UnetrConfig cfg_;
  std::vector<int> taps_;
  DctTokenizer tokenizer_;
  TransformerStack vit_;
  int norm_w_, norm_b_;
  UnetrDecoder decoder_;
  // The batch's tables and the activations.
  int64_t volumes_ = 0, subjects_ = 0;  // Nc, S
  Tensor volumes_dev_, subjects_dev_, enc_offsets_, h_, latent_, mean_, rstd_, e1_, enc1_, enc1_arg_;
  Tensor feats_[4], feat_arg_[4];
};

}  // namespace amae::models
