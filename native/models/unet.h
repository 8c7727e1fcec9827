// The U-Net baseline of spec §3: five levels of two [conv3 → InstanceNorm → LeakyReLU] with
// channels (16, 32, 64, 128, 256) by default, 2×2×2 max-pooling down, transposed convs k 2 s 2 up,
// concatenated skips (upsampled first, as MONAI's UnetrUpBlock concatenates), a 1×1×1 output conv
// with bias. Input channels are slots with zero-fill, as UNETR's.
//
// Parameter names (amae's own; MONAI has no such U-Net): `encoders.{l}.conv{1,2}.conv.weight` for
// l = 0..4 (level l at 1/2^l of the size), `upsamples.{l}.conv.weight` [c_{l+1}, c_l, 2, 2, 2] and
// `decoders.{l}.conv{1,2}.conv.weight` for l = 3..0, `out.conv.conv.{weight,bias}`. No conv bias
// before an InstanceNorm: the norm subtracts it again, so it would only be dead weight.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "blocks.h"
#include "segmentation.h"

namespace amae::models {

constexpr int kUnetLevels = 5;

struct UnetConfig {
  int64_t size[3];  // each divisible by 2^(levels − 1) = 16
  std::vector<int> slots;
  int64_t channels[kUnetLevels];
  int64_t classes = 1;
};

class Unet : public SegmentationModel {
 public:
  Unet(const UnetConfig& config, uint64_t seed, Device device = Device::CPU);
  const char* kind() const override { return "unet"; }
  const UnetConfig& config() const { return cfg_; }

 protected:
  Tensor run_forward(const Batch& batch) override;
  void run_backward(const Tensor& dlogits) override;

 private:
  UnetConfig cfg_;
  std::vector<std::unique_ptr<UnetLevel>> encoders_, decoders_;  // decoders_[l] for l < levels − 1
  std::vector<std::unique_ptr<Conv>> upsamples_;
  UnetOutBlock out_;
  // Activations: each level's output (the skips), the pooled inputs with their arg-max, the
  // upsampled and concatenated decoder inputs, each decoder level's output.
  Tensor x_in_, skip_[kUnetLevels], pooled_[kUnetLevels], arg_[kUnetLevels], up_[kUnetLevels], cat_[kUnetLevels],
      dec_[kUnetLevels];
};

}  // namespace amae::models
