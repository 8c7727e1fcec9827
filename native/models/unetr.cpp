#include "unetr.h"

#include <array>
#include <cmath>
#include <cstring>

#include "../core/memory.h"
#include "../ops/activation.h"
#include "../ops/layernorm.h"
#include "../ops/patch_embed.h"
#include "../ops/pool.h"
#include "../ops/sequence.h"

namespace amae::models {
namespace {

constexpr float kLayerNormEps = 1e-5f;  // spec §2.4

const UnetrConfig& checked(const UnetrConfig& c, bool slots) {
  AMAE_CHECK(c.patch == 16, "UNETR: the decoder upsamples ×16, so the patch size must be 16 (spec §3)");
  AMAE_CHECK(c.size[0] % 16 == 0 && c.size[1] % 16 == 0 && c.size[2] % 16 == 0, "UNETR: the size must divide by 16");
  AMAE_CHECK(c.heads >= 1 && c.embed_dim % c.heads == 0, "UNETR: the width must split into heads");
  AMAE_CHECK(!slots || !c.slots.empty(), "UNETR: at least one channel slot");
  AMAE_CHECK(slots || c.learnable_pos || c.embed_dim % 6 == 0, "Adaptive UNETR: the sin-cos table needs E % 6 == 0");
  return c;
}

// PyTorch's default Conv3d init bound, 1/√fan_in, for the patch embedding Conv3d(C → E, k = 16).
double patch_bound(const UnetrConfig& c) {
  return 1.0 / std::sqrt(double(int64_t(c.slots.size()) * c.patch * c.patch * c.patch));
}

Tensor rows_of(const Tensor& t, int64_t r0, int64_t rows, int64_t cols) {
  return Tensor(t.f32() + r0 * cols, {rows, cols}, DType::F32, t.device);
}

// The [N·P, E] token rows of N samples as [N, E, Gh, Gw, Gd] (MONAI's proj_feat), in the arena.
Tensor proj_feat(Arena& arena, const Tensor& tokens, int64_t N, const UnetrConfig& c) {
  const int64_t P = c.patches(), E = c.embed_dim;
  const Tensor y = arena.empty({N, E, c.grid(0), c.grid(1), c.grid(2)});
  ops::tokens_to_volume_forward(Tensor(tokens.data, {N, P, E}, DType::F32, tokens.device), y);
  return y;
}

}  // namespace

// ---- the decoder ---------------------------------------------------------------------------

UnetrDecoder::UnetrDecoder(ParamStore& store, int64_t in, int64_t F, int64_t E, int64_t classes)
    : encoder1(store, "encoder1", in, F),
      encoder2_(store, "encoder2", E, 2 * F, 2),
      encoder3_(store, "encoder3", E, 4 * F, 1),
      encoder4_(store, "encoder4", E, 8 * F, 0),
      decoder5_(store, "decoder5", E, 8 * F),
      decoder4_(store, "decoder4", 8 * F, 4 * F),
      decoder3_(store, "decoder3", 4 * F, 2 * F),
      decoder2_(store, "decoder2", 2 * F, F),
      out_(store, "out", F, classes) {}

Tensor UnetrDecoder::forward(Arena& arena, const Tensor& enc1, const Tensor (&feats)[4]) {
  // MONAI's UNETR.forward from encoder2 on.
  enc1_ = enc1;
  for (int j = 0; j < 4; ++j) feats_[j] = feats[j];
  enc2_ = encoder2_.forward(arena, feats[0]);
  enc3_ = encoder3_.forward(arena, feats[1]);
  enc4_ = encoder4_.forward(arena, feats[2]);
  dec3_ = decoder5_.forward(arena, feats[3], enc4_);
  dec2_ = decoder4_.forward(arena, dec3_, enc3_);
  dec1_ = decoder3_.forward(arena, dec2_, enc2_);
  dec0_ = decoder2_.forward(arena, dec1_, enc1);
  return out_.forward(arena, dec0_);
}

void UnetrDecoder::backward(Arena& arena, const Tensor& dlogits) {
  denc1_ = zeros_like(arena, enc1_);
  for (int j = 0; j < 4; ++j) dfeats_[j] = zeros_like(arena, feats_[j]);
  const Tensor& denc1 = denc1_;
  const Tensor(&dfeats)[4] = dfeats_;
  const Arena::Mark scratch = arena.mark();
  const Tensor ddec0 = zeros_like(arena, dec0_), ddec1 = zeros_like(arena, dec1_), ddec2 = zeros_like(arena, dec2_),
               ddec3 = zeros_like(arena, dec3_), denc2 = zeros_like(arena, enc2_), denc3 = zeros_like(arena, enc3_),
               denc4 = zeros_like(arena, enc4_);
  out_.backward(arena, dlogits, ddec0);
  decoder2_.backward(arena, ddec0, ddec1, denc1);
  decoder3_.backward(arena, ddec1, ddec2, denc2);
  decoder4_.backward(arena, ddec2, ddec3, denc3);
  decoder5_.backward(arena, ddec3, dfeats[3], denc4);
  encoder4_.backward(arena, denc4, dfeats[2]);
  encoder3_.backward(arena, denc3, dfeats[1]);
  encoder2_.backward(arena, denc2, dfeats[0]);
  arena.release(scratch);
}

// ---- UNETR ---------------------------------------------------------------------------------

Unetr::Unetr(const UnetrConfig& c, uint64_t seed, Device device)
    : SegmentationModel(device, c.size, c.classes, c.slots),
      cfg_(checked(c, true)),
      taps_(unetr_taps(c.depth)),
      // MONAI's PatchEmbeddingBlock: the learnable position embedding [1, P, E] (trunc-normal
      // 0.02) and Conv3d(C → E, k = s = 16) with PyTorch's default init.
      position_(store_.add("vit.patch_embedding.position_embeddings", {1, c.patches(), c.embed_dim},
                           Init::trunc_normal(0.02), false)),
      patch_w_(store_.add("vit.patch_embedding.patch_embeddings.weight",
                          {c.embed_dim, int64_t(c.slots.size()), c.patch, c.patch, c.patch},
                          Init::uniform(patch_bound(c)), true)),
      patch_b_(store_.add("vit.patch_embedding.patch_embeddings.bias", {c.embed_dim}, Init::uniform(patch_bound(c)), false)),
      vit_(store_, "vit", int(c.depth), c.embed_dim, int(c.heads), c.mlp_ratio * c.embed_dim),
      norm_w_(store_.add("vit.norm.weight", {c.embed_dim}, Init::constant(1), false)),
      norm_b_(store_.add("vit.norm.bias", {c.embed_dim}, Init::constant(0), false)),
      decoder_(store_, int64_t(c.slots.size()), c.feature_size, c.embed_dim, c.classes) {
  store_.finalize();
  store_.initialize(seed);
}

void Unetr::run_encoder(const Batch& b) {
  const int64_t S = b.count(), P = cfg_.patches(), E = cfg_.embed_dim;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  x_in_ = stack_slots(b);
  // Patch embedding, + the position embedding per sample, then the ViT over S sequences of P.
  tokens_ = arena_.empty({S * P, E});
  ops::patch_embed_forward(x_in_, w(patch_w_), w(patch_b_), Tensor(), Tensor(),
                           Tensor(tokens_.data, {S, P, E}, DType::F32, device()), cfg_.patch);
  for (int64_t s = 0; s < S; ++s) {
    const Tensor rows = rows_of(tokens_, s * P, P, E);
    ops::add_forward(rows, rows_of(w(position_), 0, P, E), rows);
  }
  offsets_ = host_built(arena_, staging_, {S + 1}, DType::I32, [&](void* p) {
    for (int64_t s = 0; s <= S; ++s) static_cast<int32_t*>(p)[s] = static_cast<int32_t>(s * P);
  });
  h_ = vit_.forward(arena_, tokens_, offsets_);
  latent_ = arena_.empty({S * P, E});
  mean_ = arena_.empty({S * P});
  rstd_ = arena_.empty({S * P});
  ops::layernorm_forward(h_, w(norm_w_), w(norm_b_), latent_, mean_, rstd_, kLayerNormEps);
}

Tensor Unetr::run_forward(const Batch& b) {
  const int64_t S = b.count();
  run_encoder(b);
  for (int j = 0; j < 3; ++j) feats_[j] = proj_feat(arena_, vit_.output(taps_[size_t(j)]), S, cfg_);
  feats_[3] = proj_feat(arena_, latent_, S, cfg_);
  enc1_ = decoder_.encoder1.forward(arena_, x_in_);
  return decoder_.forward(arena_, enc1_, feats_);
}

void Unetr::run_backward(const Tensor& dlogits) {
  const int64_t S = x_in_.dim(0), P = cfg_.patches(), E = cfg_.embed_dim;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  auto g = [&](int id) -> const Tensor& { return store_[id].grad; };
  decoder_.backward(arena_, dlogits);
  decoder_.encoder1.backward(arena_, decoder_.d_enc1(), Tensor());  // the input takes no gradient
  // The skips back to token rows; taps that name one block share its buffer (the ops add).
  std::vector<Tensor> dtaps(static_cast<size_t>(vit_.depth()));
  for (int j = 0; j < 3; ++j) {
    Tensor& d = dtaps[size_t(taps_[size_t(j)])];
    if (!d.data) d = arena_.zeros({S, P, E});
    ops::tokens_to_volume_backward(decoder_.d_feat(j), d);
  }
  const Tensor dlatent = arena_.zeros({S, P, E});
  ops::tokens_to_volume_backward(decoder_.d_feat(3), dlatent);
  const Tensor dh = arena_.zeros({S * P, E});
  ops::layernorm_backward(h_, w(norm_w_), mean_, rstd_, Tensor(dlatent.data, {S * P, E}, DType::F32, device()), dh,
                          g(norm_w_), g(norm_b_));
  for (Tensor& d : dtaps)
    if (d.data) d = Tensor(d.data, {S * P, E}, DType::F32, device());
  vit_.backward(arena_, dh, offsets_, dtaps);
  // dh is now ∂L/∂tokens: the position embedding takes every sample's, the conv the rest.
  const Tensor dpos = rows_of(g(position_), 0, P, E);
  for (int64_t s = 0; s < S; ++s) ops::add_forward(dpos, rows_of(dh, s * P, P, E), dpos);
  ops::patch_embed_backward(x_in_, w(patch_w_), w(patch_b_), Tensor(), Tensor(),
                            Tensor(dh.data, {S, P, E}, DType::F32, device()), Tensor(), g(patch_w_), g(patch_b_),
                            Tensor(), Tensor(), cfg_.patch);
}

std::vector<int64_t> Unetr::encode_shape(const Batch& b) const { return {b.count() * cfg_.patches(), cfg_.embed_dim}; }

void Unetr::encode(const Batch& b, const Tensor& out) {
  arena_.reset();
  check_finite(b.volumes, "batch.volumes");
  run_encoder(b);
  memory::copy(out, latent_);
}

// ---- Adaptive UNETR ------------------------------------------------------------------------

namespace {
std::array<int64_t, 3> grid_of(const UnetrConfig& c) { return {c.grid(0), c.grid(1), c.grid(2)}; }
}  // namespace

AdaptiveUnetr::AdaptiveUnetr(const UnetrConfig& c, uint64_t seed, Device device)
    : SegmentationModel(device, c.size, c.classes, {}),
      cfg_(checked(c, false)),
      taps_(unetr_taps(c.depth)),
      tokenizer_(store_, c.embed_dim, c.patch, grid_of(c).data(), c.learned_code, c.learnable_pos),
      vit_(store_, "vit", int(c.depth), c.embed_dim, int(c.heads), c.mlp_ratio * c.embed_dim),
      norm_w_(store_.add("vit.norm.weight", {c.embed_dim}, Init::constant(1), false)),
      norm_b_(store_.add("vit.norm.bias", {c.embed_dim}, Init::constant(0), false)),
      // encoder1 runs on each contrast alone (in = 1, weights shared) and is max-pooled after.
      decoder_(store_, 1, c.feature_size, c.embed_dim, c.classes) {
  store_.finalize();
  store_.initialize(seed);
  tokenizer_.fill_tables();
}

void AdaptiveUnetr::run_encoder(const Batch& b) {
  const int64_t S = b.count(), Nc = b.contrasts.numel(), P = cfg_.patches(), E = cfg_.embed_dim;
  const int64_t V = cfg_.patch * cfg_.patch * cfg_.patch, T = Nc * P;
  const int64_t* size = cfg_.size;
  volumes_ = Nc;
  subjects_ = S;
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  const int32_t* contrast = b.contrasts.i32();
  const int32_t* subject = b.subjects.i32();
  // The tables (every patch of every contrast is a token: no masking), built on the host.
  const Tensor ids = on_device(arena_, b.contrasts);
  subjects_dev_ = on_device(arena_, b.subjects);
  const Tensor codes = host_built(arena_, staging_, {Nc, kContrasts}, DType::F32, [&](void* p) {
    float* x = static_cast<float*>(p);
    std::memset(x, 0, sizeof(float) * static_cast<size_t>(Nc * kContrasts));
    for (int64_t n = 0; n < Nc; ++n) x[n * kContrasts + contrast[n]] = 1.0f;
  });
  const Tensor tok_offsets = host_built(arena_, staging_, {Nc + 1}, DType::I32, [&](void* p) {
    for (int64_t n = 0; n <= Nc; ++n) static_cast<int32_t*>(p)[n] = static_cast<int32_t>(n * P);
  });
  const Tensor pos_index = host_built(arena_, staging_, {T}, DType::I32, [&](void* p) {
    for (int64_t t = 0; t < T; ++t) static_cast<int32_t*>(p)[t] = static_cast<int32_t>(t % P);
  });
  const Tensor mod_index = host_built(arena_, staging_, {T}, DType::I32, [&](void* p) {
    for (int64_t t = 0; t < T; ++t) static_cast<int32_t*>(p)[t] = contrast[t / P];
  });
  enc_offsets_ = host_built(arena_, staging_, {S + 1}, DType::I32, [&](void* p) {
    for (int64_t s = 0; s <= S; ++s) static_cast<int32_t*>(p)[s] = static_cast<int32_t>(subject[s] * P);
  });
  volumes_dev_ = on_device(arena_, b.volumes);
  const Tensor patches = arena_.empty({T, V});
  ops::patchify_forward(Tensor(volumes_dev_.data, {Nc, 1, size[0], size[1], size[2]}, DType::F32, device()),
                        Tensor(patches.data, {Nc, P, V}, DType::F32, device()), cfg_.patch);
  const Tensor x0 = tokenizer_.forward(arena_, patches, tok_offsets, ids, codes, pos_index, mod_index);
  h_ = vit_.forward(arena_, x0, enc_offsets_);
  latent_ = arena_.empty({T, E});
  mean_ = arena_.empty({T});
  rstd_ = arena_.empty({T});
  ops::layernorm_forward(h_, w(norm_w_), w(norm_b_), latent_, mean_, rstd_, kLayerNormEps);
}

Tensor AdaptiveUnetr::run_forward(const Batch& b) {
  run_encoder(b);
  const int64_t S = subjects_, Nc = volumes_, P = cfg_.patches(), E = cfg_.embed_dim;
  const int64_t* size = cfg_.size;
  const int64_t F = cfg_.feature_size, Vx = size[0] * size[1] * size[2];
  // Every skip max-pooled over each subject's contrasts (spec §3), the arg-max kept.
  auto pooled_tokens = [&](const Tensor& rows, Tensor& arg) {
    const Tensor m = arena_.empty({S, P * E});
    arg = arena_.empty({S, P * E}, DType::I32);
    ops::group_max_forward(Tensor(rows.data, {Nc, P * E}, DType::F32, device()), subjects_dev_, m, arg);
    return proj_feat(arena_, m, S, cfg_);
  };
  for (int j = 0; j < 3; ++j) feats_[j] = pooled_tokens(vit_.output(taps_[size_t(j)]), feat_arg_[j]);
  feats_[3] = pooled_tokens(latent_, feat_arg_[3]);
  e1_ = decoder_.encoder1.forward(arena_, Tensor(volumes_dev_.data, {Nc, 1, size[0], size[1], size[2]}, DType::F32, device()));
  enc1_ = arena_.empty({S, F, size[0], size[1], size[2]});
  enc1_arg_ = arena_.empty({S, F * Vx}, DType::I32);
  ops::group_max_forward(Tensor(e1_.data, {Nc, F * Vx}, DType::F32, device()), subjects_dev_,
                         Tensor(enc1_.data, {S, F * Vx}, DType::F32, device()), enc1_arg_);
  return decoder_.forward(arena_, enc1_, feats_);
}

void AdaptiveUnetr::run_backward(const Tensor& dlogits) {
  const int64_t S = subjects_, Nc = volumes_, P = cfg_.patches(), E = cfg_.embed_dim, T = Nc * P;
  const int64_t F = cfg_.feature_size, Vx = cfg_.size[0] * cfg_.size[1] * cfg_.size[2];
  auto w = [&](int id) -> const Tensor& { return store_[id].value; };
  auto g = [&](int id) -> const Tensor& { return store_[id].grad; };
  decoder_.backward(arena_, dlogits);
  const Tensor& denc1 = decoder_.d_enc1();
  // encoder1: the max's gradient to the winning contrast, then per contrast.
  const Tensor de1 = zeros_like(arena_, e1_);
  ops::group_max_backward(enc1_arg_, Tensor(denc1.data, {S, F * Vx}, DType::F32, device()),
                          Tensor(de1.data, {Nc, F * Vx}, DType::F32, device()));
  decoder_.encoder1.backward(arena_, de1, Tensor());
  // The skips: back to the pooled tokens, then to the winning contrast's token rows.
  auto unpool = [&](const Tensor& dfeat, const Tensor& arg, const Tensor& drows) {
    const Arena::Mark scratch = arena_.mark();
    const Tensor dm = arena_.zeros({S, P, E});
    ops::tokens_to_volume_backward(dfeat, dm);
    ops::group_max_backward(arg, Tensor(dm.data, {S, P * E}, DType::F32, device()),
                            Tensor(drows.data, {Nc, P * E}, DType::F32, device()));
    arena_.release(scratch);
  };
  std::vector<Tensor> dtaps(static_cast<size_t>(vit_.depth()));
  for (int j = 0; j < 3; ++j) {
    Tensor& d = dtaps[size_t(taps_[size_t(j)])];
    if (!d.data) d = arena_.zeros({T, E});
    unpool(decoder_.d_feat(j), feat_arg_[j], d);
  }
  const Tensor dlatent = arena_.zeros({T, E});
  unpool(decoder_.d_feat(3), feat_arg_[3], dlatent);
  const Tensor dh = arena_.zeros({T, E});
  ops::layernorm_backward(h_, w(norm_w_), mean_, rstd_, dlatent, dh, g(norm_w_), g(norm_b_));
  vit_.backward(arena_, dh, enc_offsets_, dtaps);
  tokenizer_.backward(arena_, dh);
}

std::vector<int64_t> AdaptiveUnetr::encode_shape(const Batch& b) const {
  return {b.contrasts.numel() * cfg_.patches(), cfg_.embed_dim};
}

void AdaptiveUnetr::encode(const Batch& b, const Tensor& out) {
  arena_.reset();
  check_finite(b.volumes, "batch.volumes");
  run_encoder(b);
  memory::copy(out, latent_);
}

}  // namespace amae::models
