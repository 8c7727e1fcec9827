// The one interface every model implements (AMAE, UNETR, Adaptive UNETR, U-Net) and the one batch
// they all take, so that one binding (napi/model_binding.cpp) serves them all: the job queue,
// parameters by checkpoint name, state get/set, and the generic training step live once.
//
// A batch is always "subjects, each with some contrasts": volumes of every contrast of every
// subject back to back, their registry ids, and offsets of each subject's contrasts. Models that
// take a fixed list of channel slots (UNETR, U-Net) place each contrast in its slot and zero-fill
// the slots a subject lacks; Adaptive UNETR and AMAE take the contrasts as they come.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/arena.h"
#include "../core/memory.h"
#include "params.h"

namespace amae::models {

constexpr int64_t kContrasts = 9;  // K: the contrast registry of spec §1

// One batch, in host memory (from JS), checked by the binding against the model's BatchSpec.
struct Batch {
  Tensor volumes;       // F32 [Nc, H, W, D] every contrast of every subject, subject by subject
  Tensor contrasts;     // I32 [Nc] registry ids, strictly increasing within a subject
  Tensor subjects;      // I32 [S + 1] offsets into contrasts, every subject non-empty
  Tensor keep;          // I32 [Tk] AMAE: kept patch indices, contrast by contrast, ascending in each
  Tensor keep_offsets;  // I32 [Nc + 1] AMAE: offsets into keep, every contrast keeps ≥ 1 patch
  Tensor labels;        // F32 [S, classes, H, W, D] segmentation targets in [0, 1]; absent: no loss

  int64_t count() const { return subjects.numel() - 1; }  // S
};

// What a model's batches must hold; the binding checks every batch against it, naming the field.
struct BatchSpec {
  int64_t size[3] = {0, 0, 0};  // every volume's [H, W, D]
  bool masks = false;           // keep / keepOffsets are required (AMAE) — else they must be absent
  int64_t patch = 0;            // with masks: the patch size (keep indices lie in [0, P))
  int64_t classes = 0;          // > 0: a segmentation model; labels [S, classes, H, W, D] give the loss
  uint32_t accepted = (1u << kContrasts) - 1;  // bit k set: the model takes contrast k
};

struct OptimConfig {
  double lr, beta1, beta2, eps, weight_decay;
  double max_grad_norm;  // ≤ 0: no clipping
};

struct StepResult {
  float loss;
  double grad_norm;  // before clipping
  bool updated;      // false when the loss or the gradients were not finite: the step is skipped
};

class Model {
 public:
  virtual ~Model() = default;

  // The checkpoint's kind (spec §6): "amae", "unetr", "adaptive-unetr", "unet".
  virtual const char* kind() const = 0;
  virtual BatchSpec batch_spec() const = 0;
  ParamStore& params() { return store_; }
  Device device() const { return store_.device(); }

  // The loss of the batch with every trainable parameter's gradient in params() (zeroed first).
  virtual float loss_and_grads(const Batch& batch) = 0;
  // No gradients: the model's output for the batch into `out` (of output_shape(batch); host memory
  // or the model's device), and the loss where the batch carries what it needs (AMAE: its masks;
  // segmentation: labels), else NaN. AMAE: the prediction of every patch [Nc, P, p³];
  // segmentation: logits [S, classes, H, W, D].
  virtual std::vector<int64_t> output_shape(const Batch& batch) const = 0;
  virtual float forward(const Batch& batch, const Tensor& out) = 0;
  // The ViT encoder's final-normed tokens (MONAI ViT's `x`), [T, E] in the model's token order;
  // AMAE encodes only the kept patches. Models without a ViT have none (encode_shape throws).
  virtual std::vector<int64_t> encode_shape(const Batch& batch) const;
  virtual void encode(const Batch& batch, const Tensor& out);

  // loss_and_grads, clipping, then one AdamW step; skipped when the loss or gradients are not finite.
  StepResult train_step(const Batch& batch, const OptimConfig& opt);

 protected:
  explicit Model(Device device) : store_(device), arena_(device) {}

  ParamStore store_;
  Arena arena_;  // the step's activations, on the model's device; reset per call
};

// Throws an Error naming the first non-finite value of a host tensor of volumes [n, H, W, D...]
// (`what` names the field): a NaN in the input would silently poison every weight.
void check_finite(const Tensor& volumes, const std::string& what);

// A tensor on `arena`'s device whose contents are written on the host by `fill(host pointer)`: on
// the CPU the arena memory itself, on CUDA a host staging buffer uploaded in one copy.
template <class Fill>
Tensor host_built(Arena& arena, memory::Buffer& staging, std::initializer_list<int64_t> dims, DType dtype, Fill fill) {
  Tensor t = arena.empty(dims, dtype);
  if (arena.device() == Device::CPU) {
    fill(t.data);
    return t;
  }
  const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(dtype);
  if (staging.bytes() < bytes) staging = memory::Buffer(Device::CPU, bytes);
  fill(staging.data());
  Tensor host = t;
  host.data = staging.data();
  host.device = Device::CPU;
  memory::copy(t, host);  // waits for the upload, so staging may be reused at once
  return t;
}

// A host tensor placed on the arena's device (the tensor itself on the CPU).
Tensor on_device(Arena& arena, const Tensor& host);

}  // namespace amae::models
