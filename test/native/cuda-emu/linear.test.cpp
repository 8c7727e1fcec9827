// cuda::linear_* and matmul_* vs the CPU.
#include "harness.h"
#include "native/ops/linear.h"

using namespace emu_test;

EMU_FAMILY(linear) {
  run("linear", [&] {
    const int64_t N = 300, in = 37, out = 45;  // N > 256: two column-sum chunks
    PF x(rnd(N * in)), w(rnd(out * in)), b(rnd(out));
    for (int bias = 1; bias >= 0; --bias) {
      PF y(nans(N * out));
      cpu::linear_forward(x.c({N, in}), w.c({out, in}), bias ? b.c({out}) : Tensor(), y.c({N, out}));
      cuda::linear_forward(x.g({N, in}), w.g({out, in}), bias ? b.g({out}) : Tensor(), y.g({N, out}));
      same(bias ? "linear_forward bias" : "linear_forward no bias", y);
    }
    PF dy(rnd(N * out)), dx(rnd(N * in)), dw(rnd(out * in)), db(rnd(out));
    cpu::linear_backward(x.c({N, in}), w.c({out, in}), dy.c({N, out}), dx.c({N, in}), dw.c({out, in}), db.c({out}));
    cuda::linear_backward(x.g({N, in}), w.g({out, in}), dy.g({N, out}), dx.g({N, in}), dw.g({out, in}), db.g({out}));
    same("linear_backward dx", dx);
    same("linear_backward dw", dw);
    same("linear_backward db", db);
    // Each gradient alone (the others absent).
    for (int which = 0; which < 3; ++which) {
      PF gx(rnd(N * in)), gw(rnd(out * in)), gb(rnd(out));
      auto pick = [&](int k, Tensor t) { return k == which ? t : Tensor(); };
      cpu::linear_backward(x.c({N, in}), w.c({out, in}), dy.c({N, out}), pick(0, gx.c({N, in})), pick(1, gw.c({out, in})), pick(2, gb.c({out})));
      cuda::linear_backward(x.g({N, in}), w.g({out, in}), dy.g({N, out}), pick(0, gx.g({N, in})), pick(1, gw.g({out, in})), pick(2, gb.g({out})));
      same(fmt("linear_backward only grad %d: dx", which), gx);
      same(fmt("linear_backward only grad %d: dw", which), gw);
      same(fmt("linear_backward only grad %d: db", which), gb);
    }
    cuda::linear_backward(x.g({N, in}), w.g({out, in}), dy.g({N, out}), Tensor(), Tensor(), Tensor());
    expect("linear_backward none wanted", true);
  });
  run("matmul", [&] {
    const int64_t B = 3, M = 17, N = 23, K = 29;
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t a1 = ta ? K : M, a2 = ta ? M : K, b1 = tb ? N : K, b2 = tb ? K : N;
        PF a(rnd(B * M * K)), b(rnd(B * K * N)), c(nans(B * M * N));
        cpu::matmul_forward(a.c({B, a1, a2}), b.c({B, b1, b2}), c.c({B, M, N}), ta, tb, 0.3f);
        cuda::matmul_forward(a.g({B, a1, a2}), b.g({B, b1, b2}), c.g({B, M, N}), ta, tb, 0.3f);
        same(fmt("matmul_forward ta%d tb%d", ta, tb), c);
        PF dc(rnd(B * M * N)), da(rnd(B * M * K)), db(rnd(B * K * N));
        cpu::matmul_backward(a.c({B, a1, a2}), b.c({B, b1, b2}), dc.c({B, M, N}), da.c({B, a1, a2}), db.c({B, b1, b2}), ta, tb, 0.3f);
        cuda::matmul_backward(a.g({B, a1, a2}), b.g({B, b1, b2}), dc.g({B, M, N}), da.g({B, a1, a2}), db.g({B, b1, b2}), ta, tb, 0.3f);
        same(fmt("matmul_backward da ta%d tb%d", ta, tb), da);
        same(fmt("matmul_backward db ta%d tb%d", ta, tb), db);
      }
  });
}
