// cuda::dice_loss_* and masked_mse_* vs the CPU. The scalar loss stays on the device; dloss is a
// device scalar. Dice: V = 0, 1, 4095, 4096, 4097 (the 4096-value chunk), more than 256 rows
// (the one-block total's loop), empty and full targets, soft targets, saturated logits. Masked
// MSE: no row / every row / some rows masked, mask values other than 1, L = 1, L = 2 with
// norm_pix (unbiased variance of two values), no rows, L = 0, many rows (grid-stride).
#include "harness.h"
#include "native/ops/loss.h"

using namespace emu_test;

static void dice(int64_t N, int64_t C, int64_t V, int target_kind, float logit_scale) {
  const int64_t n = N * C * V;
  const std::string s = fmt("dice N=%ld C=%ld V=%ld target %d logits ×%g", long(N), long(C), long(V), target_kind, logit_scale);
  F x0 = rnd(n, -logit_scale, logit_scale), g0 = rnd(n, 0, 1);
  for (auto& g : g0) g = target_kind == 0 ? 0.0f : target_kind == 1 ? 1.0f : target_kind == 2 ? std::round(g) : g;
  PF x(x0), g(g0), loss(nans(1));
  cpu::dice_loss_forward(x.c({N, C, V}), g.c({N, C, V}), loss.c({1}));
  cuda::dice_loss_forward(x.g({N, C, V}), g.g({N, C, V}), loss.g({1}));
  same("dice_loss_forward " + s, loss, 1e-5);
  PF dloss(F{0.7f}), dx(rnd(n));
  cpu::dice_loss_backward(x.c({N, C, V}), g.c({N, C, V}), dloss.c({1}), dx.c({N, C, V}));
  cuda::dice_loss_backward(x.g({N, C, V}), g.g({N, C, V}), dloss.g({1}), dx.g({N, C, V}));
  same("dice_loss_backward " + s, dx, 1e-4);
}

static void mse(int64_t R, int64_t L, int mask_kind, bool norm_pix) {
  const std::string s = fmt("masked_mse R=%ld L=%ld mask %d norm_pix %d", long(R), long(L), mask_kind, int(norm_pix));
  I m0 = rnd_int(R, 0, 1);
  for (auto& v : m0) {
    if (mask_kind == 0) v = 0;
    else if (mask_kind == 1) v = 1;
    else if (mask_kind == 3 && v) v = (&v - m0.data()) % 2 ? 7 : -1;  // non-zero values other than 1
  }
  PF pred(rnd(R * L, -2, 2)), target(rnd(R * L, -1, 3)), loss(nans(1));
  PI mask(m0);
  cpu::masked_mse_forward(pred.c({R, L}), target.c({R, L}), mask.c({R}), loss.c({1}), norm_pix);
  cuda::masked_mse_forward(pred.g({R, L}), target.g({R, L}), mask.g({R}), loss.g({1}), norm_pix);
  same("masked_mse_forward " + s, loss, 1e-5);
  PF dloss(F{1.3f}), dp(rnd(R * L));
  cpu::masked_mse_backward(pred.c({R, L}), target.c({R, L}), mask.c({R}), dloss.c({1}), dp.c({R, L}), norm_pix);
  cuda::masked_mse_backward(pred.g({R, L}), target.g({R, L}), mask.g({R}), dloss.g({1}), dp.g({R, L}), norm_pix);
  same("masked_mse_backward " + s, dp, 1e-4);
}

EMU_FAMILY(loss) {
  run("dice", [] {
    dice(2, 3, 50, 3, 3);
    dice(1, 1, 1, 2, 3);
    dice(1, 2, 4095, 2, 3);
    dice(1, 2, 4096, 3, 3);
    dice(1, 1, 4097, 2, 3);
    dice(2, 1, 8193, 3, 3);   // three chunks, one value in the last
    dice(2, 2, 30, 0, 3);     // empty target: G = 0
    dice(1, 3, 40, 1, 3);     // full target
    dice(1, 2, 64, 2, 40);    // saturated logits: σ' from exp(−|x|)
    dice(3, 100, 3, 2, 3);    // 300 rows
    dice(2, 3, 0, 2, 3);      // V = 0: no values, loss 0
  });
  run("masked_mse", [] {
    for (bool np : {false, true}) {
      mse(20, 37, 2, np);
      mse(20, 37, 0, np);   // no row masked: loss 0, no gradient
      mse(20, 37, 1, np);   // every row
      mse(20, 37, 3, np);   // mask values 7 and −1 count
      mse(9, 2, 2, np);     // L = 2
      mse(40, 300, 2, np);  // rows > the 16-block EMU_SMALL grid; L > the block
      mse(300, 3, 2, np);   // mask count over > 256 rows
      mse(0, 5, 2, np);     // no rows
    }
    mse(7, 1, 2, false);    // L = 1
    mse(6, 0, 1, false);    // L = 0
  });
}
