// The AMAE pre-training model of spec §2 (the paper's Fig. 1), for one batch of subjects:
//   DCT tokenizer on the kept patches of every contrast → + position and modality embeddings →
//   one sequence per subject (contrast by contrast, kept patches ascending), subjects packed →
//   encoder blocks → norm → decoder embed → every patch of every contrast (encoded tokens back in
//   place, the mask token elsewhere) → + decoder position and modality embeddings → decoder
//   blocks → norm → pred → MSE against the patch voxels over the masked patches.
// Forward and backward are written side by side (llm.c style) over the ops in native/ops;
// activations live in an Arena that is reset per call, so after the first step a step
// allocates nothing.
//
// The model lives on one device: its parameters and activations are that device's memory. The
// batch always arrives in host memory (from JS); everything the step derives from it on the host
// (the index tables, the one-hot codes, the loss mask) is built there and, on CUDA, uploaded in
// one copy with the volumes in a second; ops only ever see tensors of the model's device.
#pragma once
#include <cstdint>

#include "model.h"
#include "tokenizer.h"
#include "vit.h"

namespace amae::models {

struct AmaeConfig {
  int64_t size[3];  // S = (H, W, D), each divisible by patch
  int64_t patch;    // p
  int64_t embed_dim, depth, heads;
  int64_t decoder_dim, decoder_depth, decoder_heads;
  int64_t mlp_ratio = 4;
  bool norm_pix = false;       // per-patch normalised targets (spec §2.6)
  bool learned_code = false;   // code "learned": a K×64 table instead of one-hot codes
  bool learnable_pos = false;  // the encoder's position embedding is learned, not sin-cos

  int64_t grid(int axis) const { return size[axis] / patch; }
  int64_t patches() const { return grid(0) * grid(1) * grid(2); }  // P
  int64_t patch_voxels() const { return patch * patch * patch; }   // p³
};

// AMAE's batches carry keep / keep_offsets (the masks) and no labels.
using AmaeBatch = Batch;

class Amae : public Model {
 public:
  Amae(const AmaeConfig& config, uint64_t seed, Device device = Device::CPU);

  const char* kind() const override { return "amae"; }
  BatchSpec batch_spec() const override;
  const AmaeConfig& config() const { return cfg_; }

  float loss_and_grads(const Batch& batch) override;
  // The loss, and the prediction of every patch of every contrast (masked or not) into
  // pred [Nc, P, p³] (host memory, or the model's device).
  std::vector<int64_t> output_shape(const Batch& batch) const override;
  float forward(const Batch& batch, const Tensor& pred) override;
  // The encoder's normed tokens of the kept patches [Tk, E] (keep every patch for all of them).
  std::vector<int64_t> encode_shape(const Batch& batch) const override;
  void encode(const Batch& batch, const Tensor& out) override;

 private:
  // The tables of one batch, built on the host (views into the arena, on the model's device).
  struct Plan {
    int64_t contrasts = 0, tokens = 0, full = 0, masked = 0;  // Nc, Tk, Tf = Nc·P, Tm = Tf − Tk
    Tensor volumes;       // [Nc, H, W, D] the batch's volumes (on CUDA: their upload)
    Tensor contrast_ids, keep, keep_offsets;  // the batch's own index arrays (on CUDA: uploads)
    Tensor kept_rows;    // [Tk] the patch row n·P + q of each encoder token
    Tensor enc_mod;      // [Tk] the contrast id of each encoder token
    Tensor enc_offsets;  // [S + 1] each subject's range of encoder tokens
    Tensor dec_source;   // [Tf] the row of [encoded; mask_token] each decoder token starts from
    Tensor dec_pos;      // [Tf] q of each decoder token
    Tensor dec_mod;      // [Tf] the contrast id of each decoder token
    Tensor dec_offsets;  // [S + 1] each subject's range of decoder tokens
    Tensor masked_rows;  // [Tm] the rows n·P + q of the masked patches, ascending
    Tensor loss_mask;    // Int32 [R] the rows the loss counts: Train every masked row (R = Tm),
                         // Predict the masked ones among all Tf rows (R = Tf)
    Tensor codes;        // [Nc, K] the one-hot modality codes (absent with learned codes)
    Tensor one;          // [1] 1.0, the gradient of the loss with respect to itself
  };
  // The activations the backward reads (views into the arena); the tokenizer and the two stacks
  // keep their own.
  struct Acts {
    Tensor patches;               // [Nc·P, p³] every patch, rows as patchify writes them
    Tensor kept, x0;              // [Tk, p³], [Tk, E] embedded tokens
    Tensor enc_out, latent, enc_mean, enc_rstd;  // encoder output and its norm
    Tensor src;                   // [Tk + 1, Ed] decoder-embedded tokens, then the mask token
    Tensor full, dec_out;         // [Tf, Ed] decoder input and output
    Tensor dec_in, dec_norm, dec_mean, dec_rstd;  // the rows that are predicted, and their norm
    Tensor pred, target, loss_mask;
    Tensor loss;                  // [1] on the model's device; absent when nothing is masked
  };
  // Train: the masked rows only, with gradients to follow; Predict: every row; Encode: stops
  // after the encoder's norm.
  enum class Mode { Train, Predict, Encode };

  void plan(const Batch& batch, Mode mode);
  // The forward; its loss is read by loss_value().
  void run_forward(const Batch& batch, Mode mode, const Tensor& pred_out);
  float loss_value();
  void run_backward();

  AmaeConfig cfg_;
  // vit.*
  DctTokenizer tokenizer_;
  TransformerStack encoder_;
  int norm_w_, norm_b_;
  // decoder.*
  int embed_w_, embed_b_, mask_token_, dec_modality_, dec_position_;
  TransformerStack decoder_;
  int dec_norm_w_, dec_norm_b_, pred_w_, pred_b_;

  // Host memory the step's tables are written to before their one upload (CUDA only; on the CPU
  // they are written straight into the arena).
  memory::Buffer staging_;
  Plan plan_;
  Acts acts_;
  float loss_host_ = 0;  // the loss on the CPU (acts_.loss points here)
};

}  // namespace amae::models
