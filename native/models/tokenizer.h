// The Dynamic Convolution Tokenizer of spec §2.1 with the encoder's embeddings of §2.2, the input
// end that AMAE and Adaptive UNETR share (`vit.tokenizer.*`, `vit.modality_embedding`,
// `vit.position_embedding`): per volume of contrast k the scales [s_w | s_b] = projector(m_k),
// then every given patch row becomes s_w ⊙ (W · patch) + s_b ⊙ B + pos[q] + M[k].
#pragma once
#include <cstdint>

#include "../core/arena.h"
#include "params.h"

namespace amae::models {

constexpr int64_t kCodeDim = 64;  // l: the width of the learned modality code (spec §2.1)

// MONAI's 3-D sin-cos position embedding (spec §2.2) of a grid, [P, dim] into out; dim % 6 == 0.
void sincos_position_embedding(const int64_t grid[3], int64_t dim, float* out);
// Fills parameter `id` ([1, P, dim]) of the store with that table, on the store's device.
void fill_sincos(ParamStore& store, int id, const int64_t grid[3], int64_t dim);

class DctTokenizer {
 public:
  DctTokenizer(ParamStore& store, int64_t embed_dim, int64_t patch, const int64_t grid[3], bool learned_code,
               bool learnable_pos);
  // After the store's initialize(): the fixed sin-cos table (a learnable one keeps its init).
  void fill_tables();

  // kept [T, p³]: the patch rows to embed, volume by volume; offsets [Nc + 1] into them; per
  // volume its contrast id [Nc] and, with one-hot codes, the codes [Nc, K]; per row its patch
  // index pos_index [T] and contrast mod_index [T]. Returns the tokens [T, E]. Keeps views of
  // every argument for the backward.
  Tensor forward(Arena& arena, const Tensor& kept, const Tensor& offsets, const Tensor& contrast_ids,
                 const Tensor& codes, const Tensor& pos_index, const Tensor& mod_index);
  // dx [T, E] = ∂L/∂tokens: parameter gradients only (no gradient reaches the volumes).
  void backward(Arena& arena, const Tensor& dx);

  int64_t embed_dim() const { return E_; }
  int position() const { return position_; }

 private:
  ParamStore& store_;
  int64_t E_, P_, grid_[3];
  bool learned_code_, learnable_pos_;
  int w_, b_, code_table_ = -1, proj_w_, proj_b_, modality_, position_;
  // The forward's arguments and activations.
  Tensor kept_, offsets_, contrast_ids_, pos_index_, mod_index_, codes_, sw_, sb_, z_;
};

}  // namespace amae::models
