// cuda::instance_norm_* vs the CPU: volumes of 1 value and around the 4096-value chunk
// (4095, 4096, 4097), rank 3 and rank 5, a large common offset (the shifted moments), many rows
// (grid-stride over row chunks with EMU_SMALL), no rows.
#include "harness.h"
#include "native/ops/norm.h"

using namespace emu_test;

static void inorm(int64_t N, int64_t C, std::vector<int64_t> sp, float offset) {
  int64_t V = 1;
  for (auto d : sp) V *= d;
  const int64_t n = N * C * V;
  const std::string s = fmt("instance_norm N=%ld C=%ld V=%ld offset %g", long(N), long(C), long(V), offset);
  auto xs = [&](auto& p, bool g) {
    return sp.size() == 3 ? (g ? p.g({N, C, sp[0], sp[1], sp[2]}) : p.c({N, C, sp[0], sp[1], sp[2]}))
                          : (g ? p.g({N, C, V}) : p.c({N, C, V}));
  };
  F x0 = rnd(n, -2, 3);
  for (auto& v : x0) v += offset;
  PF x(x0), y(nans(n)), mean(nans(N * C)), rstd(nans(N * C));
  cpu::instance_norm_forward(xs(x, false), xs(y, false), mean.c({N, C}), rstd.c({N, C}), 1e-5f);
  cuda::instance_norm_forward(xs(x, true), xs(y, true), mean.g({N, C}), rstd.g({N, C}), 1e-5f);
  same("instance_norm_forward mean " + s, mean, 1e-6);
  same("instance_norm_forward rstd " + s, rstd, 1e-6);
  // y = (x − mean)·rstd: where x ≈ mean the value cancels, so measure it against O(1).
  same("instance_norm_forward y " + s, y, 1e-4, 1e-2);
  PF m(mean.h), r(rstd.h), dy(rnd(n)), dx(rnd(n));  // the CPU's statistics for both
  cpu::instance_norm_backward(xs(x, false), m.c({N, C}), r.c({N, C}), xs(dy, false), xs(dx, false));
  cuda::instance_norm_backward(xs(x, true), m.g({N, C}), r.g({N, C}), xs(dy, true), xs(dx, true));
  same("instance_norm_backward dx " + s, dx, 1e-4, 1e-2);
  // The fused norm + LeakyReLU, in place (y is x) as the models run it, and its backward from y.
  for (float slope : {0.01f, 1.0f}) {
    const std::string f = s + fmt(" slope %g", slope);
    PF xa(x0), ma(nans(N * C)), ra(nans(N * C));
    cpu::instance_norm_act_forward(xs(xa, false), xs(xa, false), ma.c({N, C}), ra.c({N, C}), 1e-5f, slope);
    cuda::instance_norm_act_forward(xs(xa, true), xs(xa, true), ma.g({N, C}), ra.g({N, C}), 1e-5f, slope);
    same("instance_norm_act_forward y " + f, xa, 1e-4, 1e-2);
    same("instance_norm_act_forward rstd " + f, ra, 1e-6);
    PF ya(xa.h), rr(ra.h), dya(rnd(n)), dxa(rnd(n));
    cpu::instance_norm_act_backward(xs(ya, false), rr.c({N, C}), xs(dya, false), xs(dxa, false), slope);
    cuda::instance_norm_act_backward(xs(ya, true), rr.g({N, C}), xs(dya, true), xs(dxa, true), slope);
    same("instance_norm_act_backward dx " + f, dxa, 1e-4, 1e-2);
  }
}

EMU_FAMILY(norm) {
  run("instance_norm", [] {
    inorm(1, 1, {1}, 0);           // V = 1: zero variance
    inorm(2, 3, {5, 3, 7}, 0);     // rank 5, V = 105
    inorm(1, 2, {4095}, 0);
    inorm(1, 2, {4096}, 0);        // exactly one chunk
    inorm(1, 1, {4097}, 0);        // one value into a second chunk
    inorm(2, 1, {16, 16, 33}, 0);  // V = 8448: three chunks
    inorm(1, 3, {2000}, 1000.0f);  // large offset
    inorm(6, 7, {3}, 0);           // 42 rows: grid-stride with EMU_SMALL
    inorm(0, 3, {4}, 0);           // no rows
  });
}
