#include "amae.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "../core/memory.h"
#include "../core/threads.h"
#include "../ops/activation.h"
#include "../ops/layernorm.h"
#include "../ops/linear.h"
#include "../ops/loss.h"
#include "../ops/patch_embed.h"
#include "../ops/sequence.h"

namespace amae::models {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // spec §2.4

// A contiguous view of t as [rows, cols] starting at row r0 of its [rows, cols] layout (on t's
// device: the pointer arithmetic never reads the data).
Tensor rows_of(const Tensor& t, int64_t r0, int64_t rows, int64_t cols) {
  return Tensor(t.f32() + r0 * cols, {rows, cols}, DType::F32, t.device);
}
Tensor as_matrix(const Tensor& t, int64_t rows, int64_t cols) { return rows_of(t, 0, rows, cols); }

// The invariants the members' shapes rely on, checked before any member is built. The binding
// reports a user's bad configuration by field name first; reaching these is a bug in amae.
const AmaeConfig& checked(const AmaeConfig& c) {
  AMAE_CHECK(c.patch >= 1 && c.size[0] % c.patch == 0 && c.size[1] % c.patch == 0 && c.size[2] % c.patch == 0,
             "AMAE: the patch size must divide the volume size");
  AMAE_CHECK(c.heads >= 1 && c.decoder_heads >= 1 && c.embed_dim % c.heads == 0 && c.decoder_dim % c.decoder_heads == 0,
             "AMAE: widths must split into heads");
  AMAE_CHECK(c.decoder_dim % 6 == 0 && (c.learnable_pos || c.embed_dim % 6 == 0),
             "AMAE: sin-cos position embeddings need widths divisible by 6");
  AMAE_CHECK(!c.norm_pix || c.patch_voxels() >= 2, "AMAE: normPix needs patches of at least 2 voxels");
  return c;
}

}  // namespace

Amae::Amae(const AmaeConfig& c, uint64_t seed, Device device)
    : Model(device),
      cfg_(checked(c)),
      tokenizer_(store_, c.embed_dim, c.patch, std::array<int64_t, 3>{c.grid(0), c.grid(1), c.grid(2)}.data(),
                 c.learned_code, c.learnable_pos),
      encoder_(store_, "vit", int(c.depth), c.embed_dim, int(c.heads), c.mlp_ratio * c.embed_dim),
      norm_w_(store_.add("vit.norm.weight", {c.embed_dim}, Init::constant(1), false)),
      norm_b_(store_.add("vit.norm.bias", {c.embed_dim}, Init::constant(0), false)),
      embed_w_(store_.add("decoder.embed.weight", {c.decoder_dim, c.embed_dim}, Init::xavier(c.embed_dim, c.decoder_dim),
                          true)),
      embed_b_(store_.add("decoder.embed.bias", {c.decoder_dim}, Init::constant(0), false)),
      // [1, 1, Ed] as MAE's nn.Parameter(torch.zeros(1, 1, decoder_embed_dim)), N(0, 0.02).
      mask_token_(store_.add("decoder.mask_token", {1, 1, c.decoder_dim}, Init::normal(0.02), false)),
      dec_modality_(store_.add("decoder.modality_embedding", {kContrasts, c.decoder_dim}, Init::trunc_normal(0.02), false)),
      dec_position_(store_.add("decoder.position_embedding", {1, c.patches(), c.decoder_dim}, Init::fixed(), false, false)),
      decoder_(store_, "decoder", int(c.decoder_depth), c.decoder_dim, int(c.decoder_heads),
               c.mlp_ratio * c.decoder_dim),
      dec_norm_w_(store_.add("decoder.norm.weight", {c.decoder_dim}, Init::constant(1), false)),
      dec_norm_b_(store_.add("decoder.norm.bias", {c.decoder_dim}, Init::constant(0), false)),
      pred_w_(store_.add("decoder.pred.weight", {c.patch_voxels(), c.decoder_dim},
                         Init::xavier(c.decoder_dim, c.patch_voxels()), true)),
      pred_b_(store_.add("decoder.pred.bias", {c.patch_voxels()}, Init::constant(0), false)) {
  store_.finalize();
  store_.initialize(seed);
  tokenizer_.fill_tables();
  const int64_t grid[3] = {c.grid(0), c.grid(1), c.grid(2)};
  fill_sincos(store_, dec_position_, grid, c.decoder_dim);
}

BatchSpec Amae::batch_spec() const {
  BatchSpec s;
  for (int i = 0; i < 3; ++i) s.size[i] = cfg_.size[i];
  s.masks = true;
  s.patch = cfg_.patch;
  return s;
}

std::vector<int64_t> Amae::output_shape(const Batch& b) const {
  return {b.contrasts.numel(), cfg_.patches(), cfg_.patch_voxels()};
}

std::vector<int64_t> Amae::encode_shape(const Batch& b) const { return {b.keep.numel(), cfg_.embed_dim}; }

void Amae::plan(const Batch& b, Mode mode) {
  const int64_t P = cfg_.patches();
  const bool on_cpu = device() == Device::CPU;
  AMAE_CHECK(b.volumes.device == Device::CPU && b.contrasts.device == Device::CPU && b.subjects.device == Device::CPU &&
                 b.keep.device == Device::CPU && b.keep_offsets.device == Device::CPU,
             "AMAE: the batch arrives in host memory");
  const int32_t* contrast = b.contrasts.i32();
  const int32_t* subject = b.subjects.i32();
  const int32_t* keep = b.keep.i32();
  const int32_t* keep_off = b.keep_offsets.i32();
  const int64_t S = b.subjects.numel() - 1;
  Plan& p = plan_;
  p.contrasts = b.contrasts.numel();
  p.tokens = b.keep.numel();
  p.full = p.contrasts * P;
  p.masked = p.full - p.tokens;
  const int64_t Nc = p.contrasts, Tk = p.tokens, Tf = p.full, Tm = p.masked;
  const int64_t R = mode == Mode::Train ? Tm : mode == Mode::Predict ? Tf : 0;

  // Every table is a run of 4-byte words in one block, each run starting on 64 bytes. On the CPU
  // the block is arena memory and the tables are written in place; on CUDA it is host staging,
  // uploaded into the arena in one copy.
  int64_t words = 0;
  auto reserve = [&](int64_t n) {
    const int64_t at = words;
    words += (n + 15) / 16 * 16;
    return at;
  };
  const int64_t at_kept_rows = reserve(Tk), at_enc_mod = reserve(Tk), at_dec_source = reserve(Tf),
                at_dec_pos = reserve(Tf), at_dec_mod = reserve(Tf), at_masked_rows = reserve(Tm),
                at_enc_offsets = reserve(S + 1), at_dec_offsets = reserve(S + 1), at_loss_mask = reserve(R),
                at_one = reserve(1);
  const int64_t at_codes = cfg_.learned_code ? -1 : reserve(Nc * kContrasts);
  // On CUDA the batch's own index arrays travel in the same copy; on the CPU they are used as they are.
  const int64_t at_contrasts = on_cpu ? -1 : reserve(Nc), at_keep = on_cpu ? -1 : reserve(Tk),
                at_keep_offsets = on_cpu ? -1 : reserve(Nc + 1);
  const size_t bytes = static_cast<size_t>(words) * 4;
  uint8_t* host;
  if (on_cpu) {
    host = static_cast<uint8_t*>(arena_.alloc(bytes));
  } else {
    if (staging_.bytes() < bytes) staging_ = memory::Buffer(Device::CPU, bytes);
    host = static_cast<uint8_t*>(staging_.data());
  }
  auto ints = [&](int64_t at) { return reinterpret_cast<int32_t*>(host) + at; };
  auto floats = [&](int64_t at) { return reinterpret_cast<float*>(host) + at; };

  int32_t* kept_rows = ints(at_kept_rows);
  int32_t* enc_mod = ints(at_enc_mod);
  int32_t* dec_source = ints(at_dec_source);
  int32_t* dec_pos = ints(at_dec_pos);
  int32_t* dec_mod = ints(at_dec_mod);
  int32_t* masked_rows = ints(at_masked_rows);
  int32_t* enc_offsets = ints(at_enc_offsets);
  int32_t* dec_offsets = ints(at_dec_offsets);
  int32_t* loss_mask = ints(at_loss_mask);
  // Decoder token n·P + q is patch q of volume n; it starts as the mask token (row Tk of
  // [encoded; mask_token]) unless kept, when it takes its encoder token.
  for (int64_t n = 0; n < Nc; ++n)
    for (int64_t q = 0; q < P; ++q) {
      dec_source[n * P + q] = static_cast<int32_t>(Tk);
      dec_pos[n * P + q] = static_cast<int32_t>(q);
      dec_mod[n * P + q] = contrast[n];
    }
  for (int64_t n = 0; n < Nc; ++n)
    for (int64_t t = keep_off[n]; t < keep_off[n + 1]; ++t) {
      kept_rows[t] = static_cast<int32_t>(n * P + keep[t]);
      enc_mod[t] = contrast[n];
      dec_source[n * P + keep[t]] = static_cast<int32_t>(t);
    }
  for (int64_t r = 0, m = 0; r < Tf; ++r)
    if (dec_source[r] == Tk) masked_rows[m++] = static_cast<int32_t>(r);
  for (int64_t s = 0; s <= S; ++s) {
    enc_offsets[s] = keep_off[subject[s]];
    dec_offsets[s] = static_cast<int32_t>(subject[s] * P);
  }
  // Training predicts only the masked rows, all of which count; prediction predicts every row and
  // the loss counts the masked ones.
  for (int64_t r = 0; r < R; ++r) loss_mask[r] = mode == Mode::Train ? 1 : dec_source[r] == Tk;
  *floats(at_one) = 1.0f;
  if (!cfg_.learned_code) {
    float* codes = floats(at_codes);
    std::fill(codes, codes + Nc * kContrasts, 0.0f);
    for (int64_t n = 0; n < Nc; ++n) codes[n * kContrasts + contrast[n]] = 1.0f;
  }
  if (!on_cpu) {
    std::copy(contrast, contrast + Nc, ints(at_contrasts));
    std::copy(keep, keep + Tk, ints(at_keep));
    std::copy(keep_off, keep_off + Nc + 1, ints(at_keep_offsets));
  }

  // The views, on the model's device.
  uint8_t* base = host;
  if (!on_cpu) {
    base = static_cast<uint8_t*>(arena_.alloc(bytes));
    memory::copy(Tensor(base, {words}, DType::I32, device()), Tensor(host, {words}, DType::I32));
  }
  auto view = [&](int64_t at, std::initializer_list<int64_t> dims, DType t = DType::I32) {
    return Tensor(base + at * 4, dims, t, device());
  };
  p.kept_rows = view(at_kept_rows, {Tk});
  p.enc_mod = view(at_enc_mod, {Tk});
  p.dec_source = view(at_dec_source, {Tf});
  p.dec_pos = view(at_dec_pos, {Tf});
  p.dec_mod = view(at_dec_mod, {Tf});
  p.masked_rows = view(at_masked_rows, {Tm});
  p.enc_offsets = view(at_enc_offsets, {S + 1});
  p.dec_offsets = view(at_dec_offsets, {S + 1});
  p.loss_mask = view(at_loss_mask, {R});
  p.one = view(at_one, {1}, DType::F32);
  p.codes = cfg_.learned_code ? Tensor() : view(at_codes, {Nc, kContrasts}, DType::F32);
  if (on_cpu) {
    p.contrast_ids = b.contrasts;
    p.keep = b.keep;
    p.keep_offsets = b.keep_offsets;
    p.volumes = b.volumes;
  } else {
    p.contrast_ids = view(at_contrasts, {Nc});
    p.keep = view(at_keep, {Tk});
    p.keep_offsets = view(at_keep_offsets, {Nc + 1});
    // The volumes: the step's second (and last) upload.
    p.volumes = arena_.empty({b.volumes.shape[0], b.volumes.shape[1], b.volumes.shape[2], b.volumes.shape[3]});
    memory::copy(p.volumes, b.volumes);
  }
}

void Amae::run_forward(const Batch& b, Mode mode, const Tensor& pred_out) {
  arena_.reset();
  acts_.loss = Tensor();
  loss_host_ = 0;
  check_finite(b.volumes, "batch.volumes");
  plan(b, mode);
  const Plan& p = plan_;
  Acts& a = acts_;
  const int64_t P = cfg_.patches(), V = cfg_.patch_voxels(), E = cfg_.embed_dim, Ed = cfg_.decoder_dim;
  const int64_t Nc = p.contrasts, Tk = p.tokens, Tf = p.full;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };

  // Every patch as a row (the target), then the DCT on the kept ones only: masked patches are
  // never embedded.
  const int64_t* S = cfg_.size;
  a.patches = arena_.empty({Nc * P, V});
  ops::patchify_forward(Tensor(p.volumes.data, {Nc, 1, S[0], S[1], S[2]}, DType::F32, device()),
                        Tensor(a.patches.data, {Nc, P, V}, DType::F32, device()), cfg_.patch);
  a.kept = arena_.empty({Tk, V});
  ops::gather_rows_forward(a.patches, p.kept_rows, a.kept);
  a.x0 = tokenizer_.forward(arena_, a.kept, p.keep_offsets, p.contrast_ids, p.codes, p.keep, p.enc_mod);

  // Encoder over the packed subjects, then its final norm.
  a.enc_out = encoder_.forward(arena_, a.x0, p.enc_offsets);
  a.latent = arena_.empty({Tk, E});
  a.enc_mean = arena_.empty({Tk});
  a.enc_rstd = arena_.empty({Tk});
  ops::layernorm_forward(a.enc_out, w(norm_w_), w(norm_b_), a.latent, a.enc_mean, a.enc_rstd, kLayerNormEps);
  if (mode == Mode::Encode) return;

  // Decoder input: embedded tokens and, in the row after them, the mask token; every patch of
  // every contrast gathers its row from that table.
  a.src = arena_.empty({Tk + 1, Ed});
  ops::linear_forward(a.latent, w(embed_w_), w(embed_b_), rows_of(a.src, 0, Tk, Ed));
  memory::copy(rows_of(a.src, Tk, 1, Ed), rows_of(w(mask_token_), 0, 1, Ed));
  a.full = arena_.empty({Tf, Ed});
  ops::gather_rows_forward(a.src, p.dec_source, a.full);
  ops::embed_add_forward(a.full, as_matrix(w(dec_position_), P, Ed), w(dec_modality_), p.dec_pos, p.dec_mod, a.full);
  a.dec_out = decoder_.forward(arena_, a.full, p.dec_offsets);

  // Training predicts only the masked patches (the only ones the loss sees); prediction mode
  // predicts every patch.
  const int64_t R = mode == Mode::Train ? p.masked : Tf;
  if (R == 0) return;  // r = 0: nothing masked, no loss (spec §2.3)
  if (mode == Mode::Train) {
    a.dec_in = arena_.empty({R, Ed});
    ops::gather_rows_forward(a.dec_out, p.masked_rows, a.dec_in);
    a.pred = arena_.empty({R, V});
    a.target = arena_.empty({R, V});
    ops::gather_rows_forward(a.patches, p.masked_rows, a.target);
  } else {
    a.dec_in = a.dec_out;
    // The caller's buffer when it is on the model's device, else the arena's (copied out below).
    a.pred = pred_out.device == device() ? as_matrix(pred_out, R, V) : arena_.empty({R, V});
    a.target = a.patches;
  }
  a.loss_mask = p.loss_mask;
  a.dec_norm = arena_.empty({R, Ed});
  a.dec_mean = arena_.empty({R});
  a.dec_rstd = arena_.empty({R});
  ops::layernorm_forward(a.dec_in, w(dec_norm_w_), w(dec_norm_b_), a.dec_norm, a.dec_mean, a.dec_rstd, kLayerNormEps);
  ops::linear_forward(a.dec_norm, w(pred_w_), w(pred_b_), a.pred);
  // The loss stays where it is computed (host memory on the CPU, the arena on CUDA) until
  // loss_value() reads it, so that on CUDA the backward is queued before the host waits.
  a.loss = device() == Device::CPU ? Tensor(&loss_host_, {1}) : arena_.zeros({1});
  ops::masked_mse_forward(a.pred, a.target, a.loss_mask, a.loss, cfg_.norm_pix);
  if (mode == Mode::Predict && a.pred.data != pred_out.data) memory::copy(pred_out, a.pred);
}

float Amae::loss_value() {
  if (!acts_.loss.data) return 0.0f;  // nothing masked
  if (device() == Device::CPU) return loss_host_;
  float loss = 0;
  memory::copy(Tensor(&loss, {1}), acts_.loss);  // waits for the work queued before it
  return loss;
}

void Amae::run_backward() {
  const Plan& p = plan_;
  const Acts& a = acts_;
  const int64_t V = cfg_.patch_voxels(), E = cfg_.embed_dim, Ed = cfg_.decoder_dim;
  const int64_t Tk = p.tokens, Tf = p.full, Tm = p.masked;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  auto g = [&](int id) -> const Tensor& { return store_[id].grad; };

  // Loss → pred → decoder norm → the masked rows of the decoder output.
  const Tensor dpred = arena_.zeros({Tm, V});
  ops::masked_mse_backward(a.pred, a.target, a.loss_mask, p.one, dpred, cfg_.norm_pix);
  const Tensor dnorm = arena_.zeros({Tm, Ed});
  ops::linear_backward(a.dec_norm, w(pred_w_), dpred, dnorm, g(pred_w_), g(pred_b_));
  const Tensor din = arena_.zeros({Tm, Ed});
  ops::layernorm_backward(a.dec_in, w(dec_norm_w_), a.dec_mean, a.dec_rstd, dnorm, din, g(dec_norm_w_),
                          g(dec_norm_b_));
  const Tensor dfull = arena_.zeros({Tf, Ed});
  ops::gather_rows_backward(p.masked_rows, din, dfull);

  // Decoder blocks (in place), its embeddings (the sin-cos table is fixed), then the gather
  // back onto [encoded; mask_token].
  decoder_.backward(arena_, dfull, p.dec_offsets);
  ops::embed_add_backward(p.dec_pos, p.dec_mod, dfull, Tensor(), Tensor(), g(dec_modality_));
  const Tensor dsrc = arena_.zeros({Tk + 1, Ed});
  ops::gather_rows_backward(p.dec_source, dfull, dsrc);
  const Tensor dmask = rows_of(g(mask_token_), 0, 1, Ed);
  ops::add_forward(dmask, rows_of(dsrc, Tk, 1, Ed), dmask);

  // Decoder embed → encoder norm → encoder blocks (in place).
  const Tensor dlatent = arena_.zeros({Tk, E});
  ops::linear_backward(a.latent, w(embed_w_), rows_of(dsrc, 0, Tk, Ed), dlatent, g(embed_w_), g(embed_b_));
  const Tensor dx = arena_.zeros({Tk, E});
  ops::layernorm_backward(a.enc_out, w(norm_w_), a.enc_mean, a.enc_rstd, dlatent, dx, g(norm_w_), g(norm_b_));
  encoder_.backward(arena_, dx, p.enc_offsets);

  tokenizer_.backward(arena_, dx);
}

float Amae::loss_and_grads(const Batch& batch) {
  store_.zero_grads();
  run_forward(batch, Mode::Train, Tensor());
  if (plan_.masked > 0) run_backward();
  return loss_value();
}

float Amae::forward(const Batch& batch, const Tensor& pred) {
  run_forward(batch, Mode::Predict, pred);
  return loss_value();
}

void Amae::encode(const Batch& batch, const Tensor& out) {
  run_forward(batch, Mode::Encode, Tensor());
  memory::copy(out, acts_.latent);
}

}  // namespace amae::models
