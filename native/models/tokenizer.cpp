#include "tokenizer.h"

#include <cmath>
#include <vector>

#include "../ops/linear.h"
#include "../ops/patch_embed.h"
#include "../ops/sequence.h"
#include "model.h"

namespace amae::models {
namespace {

// A contiguous view of t as [rows, cols] starting at row r0 (pointer arithmetic only: any device).
Tensor rows_of(const Tensor& t, int64_t r0, int64_t rows, int64_t cols) {
  return Tensor(t.f32() + r0 * cols, {rows, cols}, DType::F32, t.device);
}
Tensor part(const Tensor& t, int64_t at, int64_t n) { return Tensor(t.f32() + at, {n}, DType::F32, t.device); }

}  // namespace

void sincos_position_embedding(const int64_t grid[3], int64_t dim, float* out) {
  AMAE_CHECK(dim % 6 == 0, "the 3-D sin-cos position embedding needs a width divisible by 6");
  const int64_t pos_dim = dim / 6;
  // Row q = (h·Gw + w)·Gd + d (meshgrid "ij", flattened); columns [sin w, cos w, sin h, cos h,
  // sin d, cos d], each pos_dim wide, with ω_i = 1 / 10000^(i / pos_dim). Double, then rounded.
  for (int64_t h = 0, q = 0; h < grid[0]; ++h)
    for (int64_t w = 0; w < grid[1]; ++w)
      for (int64_t d = 0; d < grid[2]; ++d, ++q) {
        const double coord[3] = {double(w), double(h), double(d)};
        float* row = out + q * dim;
        for (int axis = 0; axis < 3; ++axis)
          for (int64_t i = 0; i < pos_dim; ++i) {
            const double angle = coord[axis] / std::pow(10000.0, double(i) / double(pos_dim));
            row[2 * axis * pos_dim + i] = float(std::sin(angle));
            row[(2 * axis + 1) * pos_dim + i] = float(std::cos(angle));
          }
      }
}

void fill_sincos(ParamStore& store, int id, const int64_t grid[3], int64_t dim) {
  // Computed on the host: in place on the CPU, else uploaded.
  if (store.device() == Device::CPU) {
    sincos_position_embedding(grid, dim, store[id].value.f32());
    return;
  }
  std::vector<float> table(static_cast<size_t>(grid[0] * grid[1] * grid[2] * dim));
  sincos_position_embedding(grid, dim, table.data());
  store.set_value(id, table.data(), static_cast<int64_t>(table.size()));
}

DctTokenizer::DctTokenizer(ParamStore& store, int64_t E, int64_t patch, const int64_t grid[3], bool learned_code,
                           bool learnable_pos)
    : store_(store), E_(E), P_(grid[0] * grid[1] * grid[2]), grid_{grid[0], grid[1], grid[2]},
      learned_code_(learned_code), learnable_pos_(learnable_pos) {
  const int64_t V = patch * patch * patch;
  // The base conv W [E, 1, p, p, p] (Xavier on its [E, p³] view) and B (PyTorch's conv default,
  // so that s_b gets a gradient), and the projector of the modality code onto [s_w | s_b]
  // initialised so that every scale starts near 1.
  w_ = store.add("vit.tokenizer.weight", {E, 1, patch, patch, patch}, Init::xavier(V, E), true);
  b_ = store.add("vit.tokenizer.bias", {E}, Init::uniform(1.0 / std::sqrt(double(V))), false);
  if (learned_code) code_table_ = store.add("vit.tokenizer.code_table", {kContrasts, kCodeDim}, Init::trunc_normal(0.02), false);
  proj_w_ = store.add("vit.tokenizer.projector.weight", {2 * E, learned_code ? kCodeDim : kContrasts}, Init::normal(0.02), true);
  proj_b_ = store.add("vit.tokenizer.projector.bias", {2 * E}, Init::constant(1), false);
  modality_ = store.add("vit.modality_embedding", {kContrasts, E}, Init::trunc_normal(0.02), false);
  position_ = store.add("vit.position_embedding", {1, P_, E}, learnable_pos ? Init::trunc_normal(0.02) : Init::fixed(),
                        false, learnable_pos);
}

void DctTokenizer::fill_tables() {
  if (!learnable_pos_) fill_sincos(store_, position_, grid_, E_);
}

Tensor DctTokenizer::forward(Arena& arena, const Tensor& kept, const Tensor& offsets, const Tensor& contrast_ids,
                             const Tensor& codes, const Tensor& pos_index, const Tensor& mod_index) {
  kept_ = kept;
  offsets_ = offsets;
  contrast_ids_ = contrast_ids;
  pos_index_ = pos_index;
  mod_index_ = mod_index;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  const int64_t Nc = contrast_ids.numel(), T = kept.dim(0), E = E_;
  // The scales: the projector maps each volume's modality code to s_w (first E outputs) and s_b
  // (next E). Its weight rows [0, E) and [E, 2E) are contiguous, so each half is a Linear.
  const int64_t code_dim = learned_code_ ? kCodeDim : kContrasts;
  if (learned_code_) {
    codes_ = arena.zeros({Nc, code_dim});
    ops::gather_rows_forward(w(code_table_), contrast_ids, codes_);
  } else {
    codes_ = codes;
  }
  sw_ = arena.empty({Nc, E});
  sb_ = arena.empty({Nc, E});
  ops::linear_forward(codes_, rows_of(w(proj_w_), 0, E, code_dim), part(w(proj_b_), 0, E), sw_);
  ops::linear_forward(codes_, rows_of(w(proj_w_), E, E, code_dim), part(w(proj_b_), E, E), sb_);
  // The DCT as one GEMM over every row, then + pos[q] + M[k] in place.
  z_ = arena.empty({T, E});
  const Tensor x = arena.empty({T, E});
  ops::patch_embed_rows_forward(kept, offsets, w(w_), w(b_), sw_, sb_, z_, x);
  ops::embed_add_forward(x, rows_of(w(position_), 0, P_, E), w(modality_), pos_index, mod_index, x);
  return x;
}

void DctTokenizer::backward(Arena& arena, const Tensor& dx) {
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  auto g = [&](int id) -> const Tensor& { return store_[id].grad; };
  const int64_t Nc = contrast_ids_.numel(), E = E_;
  const int64_t code_dim = learned_code_ ? kCodeDim : kContrasts;
  const Arena::Mark scratch = arena.mark();
  // Embeddings (the position table only when learned), then the base conv and the scales back
  // through the projector (and the code table when learned).
  const Tensor dpos = learnable_pos_ ? rows_of(g(position_), 0, P_, E) : Tensor();
  ops::embed_add_backward(pos_index_, mod_index_, dx, Tensor(), dpos, g(modality_));
  const Tensor dsw = arena.zeros({Nc, E}), dsb = arena.zeros({Nc, E});
  ops::patch_embed_rows_backward(kept_, offsets_, w(w_), w(b_), sw_, sb_, z_, dx, Tensor(), g(w_), g(b_), dsw, dsb);
  const Tensor dcodes = learned_code_ ? arena.zeros({Nc, kCodeDim}) : Tensor();
  ops::linear_backward(codes_, rows_of(w(proj_w_), 0, E, code_dim), dsw, dcodes, rows_of(g(proj_w_), 0, E, code_dim),
                       part(g(proj_b_), 0, E));
  ops::linear_backward(codes_, rows_of(w(proj_w_), E, E, code_dim), dsb, dcodes, rows_of(g(proj_w_), E, E, code_dim),
                       part(g(proj_b_), E, E));
  if (learned_code_) ops::gather_rows_backward(contrast_ids_, dcodes, g(code_table_));
  arena.release(scratch);
}

}  // namespace amae::models
