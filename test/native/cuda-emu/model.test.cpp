// The whole AMAE model on CUDA vs the same model on the CPU: not a kernel family (sync.mjs
// requires this pseudo-family explicitly, see there) but the device integration of
// native/models/{params,vit,amae}.cpp and native/core/{memory,arena}.cpp (built with
// AMAE_WITH_CUDA, their device memory the emulated one via context.cpp): the parameter upload
// at initialisation, the host-staged index tables uploaded in one copy, the volume upload, the
// mask-token copy, the loss read-back, clipping's and AdamW's device paths. Host code reading
// device memory crashes here (PROT_NONE), as a wrong pointer would on the GPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "harness.h"
#include "native/core/memory.h"
#include "native/cuda/device.h"
#include "native/models/amae.h"
#include "native/models/unet.h"
#include "native/models/unetr.h"

using namespace emu_test;

namespace {

// A parameter tensor of either store, read into host memory (memory::copy: a device → host copy
// on CUDA).
F read(const Tensor& t) {
  F h(static_cast<size_t>(t.numel()));
  memory::copy(Tensor(h.data(), {t.numel()}), t);
  return h;
}

// ‖got − want‖ / max(‖want‖, floor) ≤ tol (both zero: equal). The floor keeps a gradient that
// cancels to almost nothing (a norm of 1e-7 from terms of 1e-3) from failing on rounding alone.
void cmp_norm(const std::string& what, const F& got, const F& want, double tol, double floor = 0) {
  if (got.size() != want.size()) return expect(what, false, fmt("size %zu vs %zu", got.size(), want.size()));
  double d = 0, n = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    d += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    n += double(want[i]) * want[i];
  }
  d = std::sqrt(d);
  n = std::sqrt(n);
  const double rel = std::max(n, floor) > 0 ? d / std::max(n, floor) : d;
  const bool ok = std::isfinite(rel) && rel <= tol;
  expect(what, ok, fmt("(n %zu, norm %.3g, rel %.1e)", got.size(), n, rel));
}

}  // namespace

EMU_FAMILY(model) {
  run("model", [&] {
    cuda::set_math(cuda::Math::F32);
    models::AmaeConfig cfg{};
    cfg.size[0] = cfg.size[1] = cfg.size[2] = 32;
    cfg.patch = 8;  // 4³ = 64 patches of 512 voxels
    cfg.embed_dim = 48, cfg.depth = 2, cfg.heads = 3;
    cfg.decoder_dim = 48, cfg.decoder_depth = 1, cfg.decoder_heads = 3;
    const uint64_t seed = 7;
    models::Amae cpu_model(cfg, seed, Device::CPU), gpu_model(cfg, seed, Device::CUDA);
    auto& cs = cpu_model.params();
    auto& gs = gpu_model.params();
    const int64_t P = cfg.patches(), V = cfg.patch_voxels(), vox = cfg.size[0] * cfg.size[1] * cfg.size[2];

    // Initialisation: the same seed gives the same values (the CUDA store's are drawn on the host
    // and uploaded, its fixed sin-cos tables set through set_value).
    {
      F c, g;
      for (const auto& p : cs.all()) {
        const F v = read(p.value);
        c.insert(c.end(), v.begin(), v.end());
      }
      for (const auto& p : gs.all()) {
        const F v = read(p.value);
        g.insert(g.end(), v.begin(), v.end());
      }
      cmp("initial weights", g, c, 0);
    }

    // The batch, in host memory as the binding passes it: 3 subjects of 3, 1 and 2 contrasts
    // (registry ids strictly increasing per subject), random volumes, random kept patches
    // ascending per contrast, each keeping at least one and masking at least one.
    const std::vector<int> per_subject = {3, 1, 2};
    I contrasts, subjects = {0}, keep, keep_offsets = {0};
    for (int n : per_subject) {
      std::vector<int> ids(models::kContrasts);
      for (int k = 0; k < int(ids.size()); ++k) ids[k] = k;
      std::shuffle(ids.begin(), ids.end(), rng);
      std::sort(ids.begin(), ids.begin() + n);
      contrasts.insert(contrasts.end(), ids.begin(), ids.begin() + n);
      subjects.push_back(subjects.back() + n);
    }
    const int64_t Nc = int64_t(contrasts.size());
    for (int64_t n = 0; n < Nc; ++n) {
      std::vector<int32_t> kept;
      std::bernoulli_distribution pick(0.25);
      for (int32_t q = 0; q < P; ++q)
        if (pick(rng)) kept.push_back(q);
      if (kept.empty()) kept.push_back(int32_t(rng() % P));
      if (int64_t(kept.size()) == P) kept.pop_back();
      keep.insert(keep.end(), kept.begin(), kept.end());
      keep_offsets.push_back(int32_t(keep.size()));
    }
    F volumes = rnd(Nc * vox, -2, 2);
    const models::AmaeBatch batch{
        host(volumes, {Nc, cfg.size[0], cfg.size[1], cfg.size[2]}), host(contrasts, {Nc}),
        host(subjects, {int64_t(subjects.size())}), host(keep, {int64_t(keep.size())}),
        host(keep_offsets, {int64_t(keep_offsets.size())})};

    // One loss and every trainable parameter's gradient.
    const float lc = cpu_model.loss_and_grads(batch), lg = gpu_model.loss_and_grads(batch);
    expect("loss_and_grads: loss is finite and positive", std::isfinite(lc) && lc > 0, fmt("(%g)", lc));
    cmp("loss_and_grads: loss", lg, lc, 1e-4);
    int trainable = 0;
    for (size_t i = 0; i < cs.all().size(); ++i) {
      const auto& p = cs.all()[i];
      if (!p.trainable) continue;
      ++trainable;
      cmp_norm("grad " + p.name, read(gs.all()[i].grad), read(p.grad), 1e-3);
    }
    expect("trainable parameters compared", trainable > 20, fmt("(%d)", trainable));

    // Prediction of every patch (into host memory, as the binding's pred is) and its loss.
    {
      F pc = nans(Nc * P * V), pg = nans(Nc * P * V);
      const float fc = cpu_model.forward(batch, host(pc, {Nc, P, V}));
      const float fg = gpu_model.forward(batch, host(pg, {Nc, P, V}));
      cmp("forward (predict): loss", fg, fc, 1e-4);
      cmp_norm("forward (predict): pred", pg, pc, 1e-3);
    }

    // One training step (with clipping: its bound is below the gradient norm), then the weights.
    F before;
    for (const auto& p : cs.all()) {
      const F v = read(p.value);
      before.insert(before.end(), v.begin(), v.end());
    }
    const models::OptimConfig opt{1e-2, 0.9, 0.95, 1e-8, 0.05, 0.1};
    const models::StepResult rc = cpu_model.train_step(batch, opt), rg = gpu_model.train_step(batch, opt);
    cmp("train_step: loss", rg.loss, rc.loss, 1e-4);
    cmp("train_step: grad_norm", rg.grad_norm, rc.grad_norm, 1e-4);
    expect("train_step: clipped", rc.grad_norm > opt.max_grad_norm, fmt("(grad norm %g)", rc.grad_norm));
    expect("train_step: updated", rc.updated && rg.updated);
    F after_c, after_g;
    for (size_t i = 0; i < cs.all().size(); ++i) {
      const F c = read(cs.all()[i].value), g = read(gs.all()[i].value);
      cmp_norm("weights " + cs.all()[i].name, g, c, 1e-3);
      after_c.insert(after_c.end(), c.begin(), c.end());
      after_g.insert(after_g.end(), g.begin(), g.end());
    }
    // The step itself (the weights alone would pass a skipped update at this lr).
    F dc(before.size()), dg(before.size());
    for (size_t i = 0; i < before.size(); ++i) dc[i] = after_c[i] - before[i], dg[i] = after_g[i] - before[i];
    cmp_norm("train_step: the update of every weight", dg, dc, 1e-3);
  });

  // The segmentation models (native/models/{blocks,segmentation,unetr,unet}.cpp): the slot stacking
  // and the host-built tables uploaded, the labels' upload, the loss read back; loss, every
  // gradient and the logits against the CPU. Narrow (E 12, one block, F 2) so the emulation is quick.
  run("segmentation", [&] {
    cuda::set_math(cuda::Math::F32);
    const int64_t n = 32, vox = n * n * n;
    models::UnetrConfig uc{};
    uc.size[0] = uc.size[1] = uc.size[2] = n;
    uc.feature_size = 2, uc.embed_dim = 12, uc.depth = 1, uc.heads = 2, uc.slots = {0, 1, 2};
    models::UnetrConfig ac = uc;
    ac.slots = {};
    models::UnetConfig nc{};
    nc.size[0] = nc.size[1] = nc.size[2] = n;
    nc.slots = {0, 1, 2};
    for (int l = 0; l < models::kUnetLevels; ++l) nc.channels[l] = 2;
    // Two subjects: ADC + T2, then TRACE alone (a missing slot each).
    std::vector<int> contrasts = {0, 2, 1}, subjects = {0, 2, 3};
    F volumes = rnd(3 * vox, -2, 2), labels(2 * vox);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = volumes[i] > 0.5f ? 1.0f : 0.0f;
    const models::Batch batch{host(volumes, {3, n, n, n}), host(contrasts, {3}), host(subjects, {3}), Tensor(), Tensor(),
                              host(labels, {2, 1, n, n, n})};
    auto check = [&](const char* name, models::Model& c, models::Model& g) {
      const std::string at = name;
      const float lc = c.loss_and_grads(batch), lg = g.loss_and_grads(batch);
      expect(at + " loss_and_grads: loss is finite", std::isfinite(lc) && lc > 0, fmt("(%g)", lc));
      cmp(at + " loss_and_grads: loss", lg, lc, 1e-4);
      for (size_t i = 0; i < c.params().all().size(); ++i) {
        const auto& p = c.params().all()[i];
        if (p.trainable) cmp_norm(at + " grad " + p.name, read(g.params().all()[i].grad), read(p.grad), 1e-3, 1e-6);
      }
      F oc = nans(2 * vox), og = nans(2 * vox);
      cmp(at + " forward: loss", g.forward(batch, host(og, {2, 1, n, n, n})), c.forward(batch, host(oc, {2, 1, n, n, n})), 1e-4);
      cmp_norm(at + " forward: logits", og, oc, 1e-4);
    };
    {
      models::Unetr c(uc, 3, Device::CPU), g(uc, 3, Device::CUDA);
      check("unetr", c, g);
    }
    {
      models::AdaptiveUnetr c(ac, 3, Device::CPU), g(ac, 3, Device::CUDA);
      check("adaptive-unetr", c, g);
    }
    {
      models::Unet c(nc, 3, Device::CPU), g(nc, 3, Device::CUDA);
      check("unet", c, g);
    }
  });
}
