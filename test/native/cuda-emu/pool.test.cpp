// cuda::maxpool3d_* and group_max_* vs the CPU: odd sizes (dropped last planes), ties (values on
// a coarse grid), NaNs (one or several in a window, NaN against -Inf), empty outputs, and a
// group_max backward with rows repeated across groups. Values and arg-maxes must match exactly.
#include "harness.h"
#include "native/ops/pool.h"

using namespace emu_test;

// Coarse values (ties), with a sprinkling of NaN and -Inf.
static F tied(int64_t n, double nan_rate) {
  F x = rnd(n);
  std::uniform_real_distribution<double> u(0, 1);
  for (auto& v : x) {
    v = std::round(v * 2) / 2;  // five levels: many ties
    const double r = u(rng);
    if (r < nan_rate) v = NAN;
    else if (r < 2 * nan_rate) v = -INFINITY;
  }
  return x;
}

static void maxpool(int64_t N, int64_t C, int64_t H, int64_t W, int64_t D, double nan_rate) {
  const int64_t Ho = H / 2, Wo = W / 2, Do = D / 2, n_in = N * C * H * W * D, n_out = N * C * Ho * Wo * Do;
  const std::string s = fmt("maxpool3d [%ld,%ld,%ld,%ld,%ld] nan %.2f", long(N), long(C), long(H), long(W), long(D), nan_rate);
  PF x(tied(n_in, nan_rate)), y(nans(n_out));
  PI am(I(size_t(n_out), -7));
  cpu::maxpool3d_forward(x.c({N, C, H, W, D}), y.c({N, C, Ho, Wo, Do}), am.c({N, C, Ho, Wo, Do}));
  cuda::maxpool3d_forward(x.g({N, C, H, W, D}), y.g({N, C, Ho, Wo, Do}), am.g({N, C, Ho, Wo, Do}));
  same("maxpool3d_forward y " + s, y, 0);
  same("maxpool3d_forward argmax " + s, am);
  PI amc(am.h);
  PF dy(rnd(n_out)), dx(rnd(n_in));
  cpu::maxpool3d_backward(amc.c({N, C, Ho, Wo, Do}), dy.c({N, C, Ho, Wo, Do}), dx.c({N, C, H, W, D}));
  cuda::maxpool3d_backward(amc.g({N, C, Ho, Wo, Do}), dy.g({N, C, Ho, Wo, Do}), dx.g({N, C, H, W, D}));
  same("maxpool3d_backward " + s, dx, 0);
}

static void group_max(const I& offsets, std::vector<int64_t> inner, double nan_rate) {
  const int64_t S = int64_t(offsets.size()) - 1, R = offsets.back();
  int64_t M = 1;
  for (auto d : inner) M *= d;
  const std::string s = fmt("group_max S=%ld R=%ld M=%ld nan %.2f", long(S), long(R), long(M), nan_rate);
  PF x(tied(R * M, nan_rate)), y(nans(S * M));
  PI off(offsets), am(I(size_t(S * M), -7));
  // x [R, M] as a token map, or [R, a, b] (M is everything after dim 0).
  auto xs = [&](auto& p, bool g) { return inner.size() == 2 ? (g ? p.g({R, inner[0], inner[1]}) : p.c({R, inner[0], inner[1]})) : (g ? p.g({R, M}) : p.c({R, M})); };
  auto ys = [&](auto& p, bool g) { return inner.size() == 2 ? (g ? p.g({S, inner[0], inner[1]}) : p.c({S, inner[0], inner[1]})) : (g ? p.g({S, M}) : p.c({S, M})); };
  cpu::group_max_forward(xs(x, false), off.c({S + 1}), ys(y, false), ys(am, false));
  cuda::group_max_forward(xs(x, true), off.g({S + 1}), ys(y, true), ys(am, true));
  same("group_max_forward y " + s, y, 0);
  same("group_max_forward argmax " + s, am);
  PF dy(rnd(S * M)), dx(rnd(R * M));
  PI amc(am.h);
  cpu::group_max_backward(ys(amc, false), ys(dy, false), xs(dx, false));
  cuda::group_max_backward(ys(amc, true), ys(dy, true), xs(dx, true));
  same("group_max_backward " + s, dx, 0);
  if (R > 0) {
    // Any rows, repeated across groups: the additions into one element keep ascending s.
    PI arb(rnd_int(S * M, 0, int(R - 1)));
    PF dx2(rnd(R * M));
    cpu::group_max_backward(ys(arb, false), ys(dy, false), xs(dx2, false));
    cuda::group_max_backward(ys(arb, true), ys(dy, true), xs(dx2, true));
    same("group_max_backward repeated rows " + s, dx2, 0);
  }
}

EMU_FAMILY(pool) {
  run("maxpool3d", [] {
    maxpool(1, 1, 2, 2, 2, 0);
    maxpool(2, 3, 5, 6, 7, 0);      // odd H and D: last planes dropped
    maxpool(2, 3, 5, 6, 7, 0.08);   // NaNs and -Infs
    maxpool(1, 2, 9, 3, 8, 0.3);    // windows with several NaNs
    maxpool(1, 2, 1, 4, 4, 0);      // H/2 = 0: empty output
    maxpool(2, 2, 16, 16, 18, 0.01);  // > 4096 outputs: grid-stride with EMU_SMALL
  });
  run("group_max", [] {
    group_max({0, 1, 4, 6, 9}, {37}, 0);
    group_max({0, 1, 4, 6, 9}, {37}, 0.1);
    group_max({0, 3}, {5, 7}, 0.3);
    group_max({0, 2, 3, 7}, {2, 700}, 0.02);  // M = 1400: several blocks
    group_max({0}, {9}, 0);                    // no group: empty output
  });
}
