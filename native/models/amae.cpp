#include "amae.h"

#include <algorithm>
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
// The n values of t from element `at`, as a vector.
Tensor part(const Tensor& t, int64_t at, int64_t n) { return Tensor(t.f32() + at, {n}, DType::F32, t.device); }

// The first non-finite value of x (lowest index), or −1. Scanned in parallel; the minimum makes
// the answer independent of the scheduling. x is host memory (the batch, before any upload).
int64_t first_non_finite(const Tensor& x) {
  AMAE_CHECK(x.device == Device::CPU, "first_non_finite reads host memory");
  const float* p = x.f32();
  std::atomic<int64_t> first{-1};
  parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      if (!std::isfinite(p[i])) {
        int64_t cur = first.load();
        while ((cur < 0 || i < cur) && !first.compare_exchange_weak(cur, i)) {
        }
        return;
      }
  });
  return first.load();
}

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

Amae::Amae(const AmaeConfig& c, uint64_t seed, Device device)
    : cfg_(checked(c)),
      device_(device),
      store_(device),
      // The DCT (spec §2.1): base conv W [E, 1, p, p, p] (Xavier on its [E, p³] view) and B
      // (PyTorch's conv default, so that s_b gets a gradient), and the projector of the
      // modality code onto [s_w | s_b] initialised so that every scale starts near 1.
      tok_w_(store_.add("vit.tokenizer.weight", {c.embed_dim, 1, c.patch, c.patch, c.patch},
                        Init::xavier(c.patch_voxels(), c.embed_dim), true)),
      tok_b_(store_.add("vit.tokenizer.bias", {c.embed_dim}, Init::uniform(1.0 / std::sqrt(double(c.patch_voxels()))),
                        false)),
      code_table_(c.learned_code ? store_.add("vit.tokenizer.code_table", {kContrasts, kCodeDim}, Init::trunc_normal(0.02),
                                              false)
                                 : -1),
      proj_w_(store_.add("vit.tokenizer.projector.weight", {2 * c.embed_dim, c.learned_code ? kCodeDim : kContrasts},
                         Init::normal(0.02), true)),
      proj_b_(store_.add("vit.tokenizer.projector.bias", {2 * c.embed_dim}, Init::constant(1), false)),
      modality_(store_.add("vit.modality_embedding", {kContrasts, c.embed_dim}, Init::trunc_normal(0.02), false)),
      position_(store_.add("vit.position_embedding", {1, c.patches(), c.embed_dim},
                           c.learnable_pos ? Init::trunc_normal(0.02) : Init::fixed(), false, c.learnable_pos)),
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
      pred_b_(store_.add("decoder.pred.bias", {c.patch_voxels()}, Init::constant(0), false)),
      arena_(device) {
  store_.finalize();
  store_.initialize(seed);
  // The fixed sin-cos tables are computed on the host: in place on the CPU, else uploaded.
  const int64_t grid[3] = {c.grid(0), c.grid(1), c.grid(2)};
  auto sincos = [&](int id, int64_t dim) {
    if (device_ == Device::CPU) {
      sincos_position_embedding(grid, dim, store_[id].value.f32());
      return;
    }
    std::vector<float> table(static_cast<size_t>(c.patches() * dim));
    sincos_position_embedding(grid, dim, table.data());
    store_.set_value(id, table.data(), static_cast<int64_t>(table.size()));
  };
  if (!c.learnable_pos) sincos(position_, c.embed_dim);
  sincos(dec_position_, c.decoder_dim);
}

void Amae::plan(const AmaeBatch& b, Mode mode) {
  const int64_t P = cfg_.patches();
  const bool on_cpu = device_ == Device::CPU;
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
  const int64_t R = mode == Mode::Train ? Tm : Tf;

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
    memory::copy(Tensor(base, {words}, DType::I32, device_), Tensor(host, {words}, DType::I32));
  }
  auto view = [&](int64_t at, std::initializer_list<int64_t> dims, DType t = DType::I32) {
    return Tensor(base + at * 4, dims, t, device_);
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

void Amae::run_forward(const AmaeBatch& b, Mode mode, const Tensor& pred_out) {
  arena_.reset();
  acts_.loss = Tensor();
  loss_host_ = 0;
  const int64_t bad = first_non_finite(b.volumes);
  if (bad >= 0) {
    const float v = b.volumes.f32()[bad];
    const int64_t W = cfg_.size[1], D = cfg_.size[2], per = cfg_.size[0] * W * D, at = bad % per;
    throw std::runtime_error("batch.volumes holds " + std::string(std::isnan(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity") +
                             " in volume " + std::to_string(bad / per) + " at voxel [" + std::to_string(at / (W * D)) +
                             ", " + std::to_string(at / D % W) + ", " + std::to_string(at % D) + "]");
  }
  plan(b, mode);
  const Plan& p = plan_;
  Acts& a = acts_;
  const int64_t P = cfg_.patches(), V = cfg_.patch_voxels(), E = cfg_.embed_dim, Ed = cfg_.decoder_dim;
  const int64_t Nc = p.contrasts, Tk = p.tokens, Tf = p.full;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };

  // DCT scales: the projector maps each volume's modality code to s_w (first E outputs) and
  // s_b (next E). Its weight rows [0, E) and [E, 2E) are contiguous, so each half is a Linear.
  const int64_t code_dim = cfg_.learned_code ? kCodeDim : kContrasts;
  if (cfg_.learned_code) {
    a.codes = arena_.zeros({Nc, code_dim});
    ops::gather_rows_forward(w(code_table_), p.contrast_ids, a.codes);
  } else {
    a.codes = p.codes;  // one-hot, built by plan()
  }
  a.sw = arena_.empty({Nc, E});
  a.sb = arena_.empty({Nc, E});
  ops::linear_forward(a.codes, rows_of(w(proj_w_), 0, E, code_dim), part(w(proj_b_), 0, E), a.sw);
  ops::linear_forward(a.codes, rows_of(w(proj_w_), E, E, code_dim), part(w(proj_b_), E, E), a.sb);

  // Every patch as a row (the target), then the DCT on the kept ones only: masked patches are
  // never embedded.
  const int64_t* S = cfg_.size;
  a.patches = arena_.empty({Nc * P, V});
  ops::patchify_forward(Tensor(p.volumes.data, {Nc, 1, S[0], S[1], S[2]}, DType::F32, device_),
                        Tensor(a.patches.data, {Nc, P, V}, DType::F32, device_), cfg_.patch);
  a.kept = arena_.empty({Tk, V});
  ops::gather_rows_forward(a.patches, p.kept_rows, a.kept);
  a.z = arena_.empty({Tk, E});
  a.x0 = arena_.empty({Tk, E});
  ops::patch_embed_rows_forward(a.kept, p.keep_offsets, w(tok_w_), w(tok_b_), a.sw, a.sb, a.z, a.x0);
  // + pos[q] + M[k], in place.
  ops::embed_add_forward(a.x0, as_matrix(w(position_), P, E), w(modality_), p.keep, p.enc_mod, a.x0);

  // Encoder over the packed subjects, then its final norm.
  a.enc_out = encoder_.forward(arena_, a.x0, p.enc_offsets);
  a.latent = arena_.empty({Tk, E});
  a.enc_mean = arena_.empty({Tk});
  a.enc_rstd = arena_.empty({Tk});
  ops::layernorm_forward(a.enc_out, w(norm_w_), w(norm_b_), a.latent, a.enc_mean, a.enc_rstd, kLayerNormEps);

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
    a.pred = pred_out.device == device_ ? as_matrix(pred_out, R, V) : arena_.empty({R, V});
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
  a.loss = device_ == Device::CPU ? Tensor(&loss_host_, {1}) : arena_.zeros({1});
  ops::masked_mse_forward(a.pred, a.target, a.loss_mask, a.loss, cfg_.norm_pix);
  if (mode == Mode::Predict && a.pred.data != pred_out.data) memory::copy(pred_out, a.pred);
}

float Amae::loss_value() {
  if (!acts_.loss.data) return 0.0f;  // nothing masked
  if (device_ == Device::CPU) return loss_host_;
  float loss = 0;
  memory::copy(Tensor(&loss, {1}), acts_.loss);  // waits for the work queued before it
  return loss;
}

void Amae::run_backward() {
  const Plan& p = plan_;
  const Acts& a = acts_;
  const int64_t P = cfg_.patches(), V = cfg_.patch_voxels(), E = cfg_.embed_dim, Ed = cfg_.decoder_dim;
  const int64_t Nc = p.contrasts, Tk = p.tokens, Tf = p.full, Tm = p.masked;
  const int64_t code_dim = cfg_.learned_code ? kCodeDim : kContrasts;
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

  // Embeddings (the position table only when learned) and the DCT: its base conv, then the
  // scales back through the projector (and the code table when learned).
  const Tensor dpos = cfg_.learnable_pos ? as_matrix(g(position_), P, E) : Tensor();
  ops::embed_add_backward(p.keep, p.enc_mod, dx, Tensor(), dpos, g(modality_));
  const Tensor dsw = arena_.zeros({Nc, E}), dsb = arena_.zeros({Nc, E});
  ops::patch_embed_rows_backward(a.kept, p.keep_offsets, w(tok_w_), w(tok_b_), a.sw, a.sb, a.z, dx, Tensor(),
                                 g(tok_w_), g(tok_b_), dsw, dsb);
  const Tensor dcodes = cfg_.learned_code ? arena_.zeros({Nc, kCodeDim}) : Tensor();
  ops::linear_backward(a.codes, rows_of(w(proj_w_), 0, E, code_dim), dsw, dcodes, rows_of(g(proj_w_), 0, E, code_dim),
                       part(g(proj_b_), 0, E));
  ops::linear_backward(a.codes, rows_of(w(proj_w_), E, E, code_dim), dsb, dcodes, rows_of(g(proj_w_), E, E, code_dim),
                       part(g(proj_b_), E, E));
  if (cfg_.learned_code) ops::gather_rows_backward(p.contrast_ids, dcodes, g(code_table_));
}


float Amae::loss_and_grads(const AmaeBatch& batch) {
  store_.zero_grads();
  run_forward(batch, Mode::Train, Tensor());
  if (plan_.masked > 0) run_backward();
  return loss_value();
}

StepResult Amae::train_step(const AmaeBatch& batch, const OptimConfig& opt) {
  StepResult r;
  r.loss = loss_and_grads(batch);
  r.grad_norm = store_.clip_grad_norm(opt.max_grad_norm);
  // A non-finite loss or gradient would write NaN into every weight and moment: skip instead.
  r.updated = std::isfinite(r.loss) && std::isfinite(r.grad_norm);
  if (r.updated) store_.adamw_step(opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weight_decay);
  return r;
}

float Amae::forward(const AmaeBatch& batch, const Tensor& pred) {
  run_forward(batch, Mode::Predict, pred);
  return loss_value();
}

}  // namespace amae::models
