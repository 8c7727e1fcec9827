// cuda::conv3d_* (k = 1, 3) and conv_transpose3d_* (k = s = 2) vs the CPU: odd volumes, channel
// counts that leave a partial block of 8 channels, with and without bias, every subset of the
// backward's gradients (an absent one is left alone), volumes large enough to split the
// weight/bias reductions into several chunks (and, with EMU_SMALL, the 2-chunk cap), N = 0
// (no voxels: both backends add nothing).
#include "harness.h"
#include "native/ops/conv.h"

using namespace emu_test;

static void conv3d(int64_t N, int64_t Ci, int64_t Co, int64_t H, int64_t W, int64_t D, int64_t K, bool bias, bool all_subsets) {
  const int64_t V = H * W * D, K3 = K * K * K;
  const std::string s = fmt("conv3d k%ld N=%ld Ci=%ld Co=%ld %ldx%ldx%ld%s", long(K), long(N), long(Ci), long(Co), long(H),
                            long(W), long(D), bias ? " bias" : "");
  PF x(rnd(N * Ci * V)), w(rnd(Co * Ci * K3, -0.3f, 0.3f)), b(rnd(Co)), y(nans(N * Co * V));
  cpu::conv3d_forward(x.c({N, Ci, H, W, D}), w.c({Co, Ci, K, K, K}), bias ? b.c({Co}) : Tensor(), y.c({N, Co, H, W, D}));
  cuda::conv3d_forward(x.g({N, Ci, H, W, D}), w.g({Co, Ci, K, K, K}), bias ? b.g({Co}) : Tensor(), y.g({N, Co, H, W, D}));
  same("conv3d_forward " + s, y, 1e-4, 1e-2);
  PF dy(rnd(N * Co * V));
  for (int want = all_subsets ? 0 : 7; want < 8; ++want) {
    const F dw0 = rnd(Co * Ci * K3);
    PF dx(rnd(N * Ci * V)), dw(dw0), db(rnd(Co));
    cpu::conv3d_backward(x.c({N, Ci, H, W, D}), w.c({Co, Ci, K, K, K}), dy.c({N, Co, H, W, D}), want & 1 ? dx.c({N, Ci, H, W, D}) : Tensor(),
                         want & 2 ? dw.c({Co, Ci, K, K, K}) : Tensor(), want & 4 ? db.c({Co}) : Tensor());
    cuda::conv3d_backward(x.g({N, Ci, H, W, D}), w.g({Co, Ci, K, K, K}), dy.g({N, Co, H, W, D}), want & 1 ? dx.g({N, Ci, H, W, D}) : Tensor(),
                          want & 2 ? dw.g({Co, Ci, K, K, K}) : Tensor(), want & 4 ? db.g({Co}) : Tensor());
    const std::string g = fmt(" (dx%d dw%d db%d)", want & 1, (want >> 1) & 1, (want >> 2) & 1);
    same("conv3d_backward dx " + s + g, dx, 1e-4, 1e-2);
    // Sums over N·V random terms in another order than the CPU's: measured against their
    // typical size, √(N·V).
    const double scale = 1e-2 * std::sqrt(double(N * V)) + 1e-2;
    same("conv3d_backward dw " + s + g, dw, 1e-4, scale);
    same("conv3d_backward db " + s + g, db, 1e-4, scale);
  }
}

static void convt(int64_t N, int64_t Ci, int64_t Co, int64_t H, int64_t W, int64_t D, bool bias, bool all_subsets) {
  const int64_t V = H * W * D;
  const std::string s = fmt("conv_transpose3d N=%ld Ci=%ld Co=%ld %ldx%ldx%ld%s", long(N), long(Ci), long(Co), long(H), long(W),
                            long(D), bias ? " bias" : "");
  PF x(rnd(N * Ci * V)), w(rnd(Ci * Co * 8, -0.3f, 0.3f)), b(rnd(Co)), y(nans(N * Co * 8 * V));
  cpu::conv_transpose3d_forward(x.c({N, Ci, H, W, D}), w.c({Ci, Co, 2, 2, 2}), bias ? b.c({Co}) : Tensor(), y.c({N, Co, 2 * H, 2 * W, 2 * D}));
  cuda::conv_transpose3d_forward(x.g({N, Ci, H, W, D}), w.g({Ci, Co, 2, 2, 2}), bias ? b.g({Co}) : Tensor(), y.g({N, Co, 2 * H, 2 * W, 2 * D}));
  same("conv_transpose3d_forward " + s, y, 1e-4, 1e-2);
  PF dy(rnd(N * Co * 8 * V));
  for (int want = all_subsets ? 0 : 7; want < 8; ++want) {
    const F dw0 = rnd(Ci * Co * 8);
    PF dx(rnd(N * Ci * V)), dw(dw0), db(rnd(Co));
    cpu::conv_transpose3d_backward(x.c({N, Ci, H, W, D}), w.c({Ci, Co, 2, 2, 2}), dy.c({N, Co, 2 * H, 2 * W, 2 * D}),
                                   want & 1 ? dx.c({N, Ci, H, W, D}) : Tensor(), want & 2 ? dw.c({Ci, Co, 2, 2, 2}) : Tensor(),
                                   want & 4 ? db.c({Co}) : Tensor());
    cuda::conv_transpose3d_backward(x.g({N, Ci, H, W, D}), w.g({Ci, Co, 2, 2, 2}), dy.g({N, Co, 2 * H, 2 * W, 2 * D}),
                                    want & 1 ? dx.g({N, Ci, H, W, D}) : Tensor(), want & 2 ? dw.g({Ci, Co, 2, 2, 2}) : Tensor(),
                                    want & 4 ? db.g({Co}) : Tensor());
    const std::string g = fmt(" (dx%d dw%d db%d)", want & 1, (want >> 1) & 1, (want >> 2) & 1);
    same("conv_transpose3d_backward dx " + s + g, dx, 1e-4, 1e-2);
    const double scale = 1e-2 * std::sqrt(double(8 * N * V)) + 1e-2;
    same("conv_transpose3d_backward dw " + s + g, dw, 1e-4, scale);
    same("conv_transpose3d_backward db " + s + g, db, 1e-4, scale);
  }
}

EMU_FAMILY(conv) {
  run("conv3d k1", [] {
    conv3d(2, 3, 5, 3, 4, 5, 1, true, true);
    conv3d(1, 9, 10, 2, 3, 3, 1, false, false);   // partial channel blocks (9 = 8 + 1, 10 = 8 + 2)
    conv3d(2, 2, 3, 16, 16, 17, 1, true, false);  // 8704 voxels: 3 reduction chunks
  });
  run("conv3d k3", [] {
    conv3d(2, 3, 5, 3, 4, 5, 3, true, true);
    conv3d(1, 9, 10, 3, 2, 4, 3, true, false);
    conv3d(1, 1, 1, 1, 1, 1, 3, true, false);     // one voxel: every tap but the centre is padding
    conv3d(2, 2, 2, 16, 16, 17, 3, false, false);  // several reduction chunks
    conv3d(0, 2, 3, 2, 2, 2, 3, true, false);     // N = 0
  });
  run("conv_transpose3d", [] {
    convt(2, 3, 5, 2, 3, 4, true, true);
    convt(1, 9, 10, 3, 1, 2, false, false);
    convt(2, 2, 3, 12, 12, 16, true, false);      // 4608 input voxels: 2 weight chunks, 9 bias chunks
    convt(0, 2, 3, 2, 2, 2, true, false);         // N = 0
  });
}
