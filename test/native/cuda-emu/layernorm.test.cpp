// cuda::layernorm_* vs the CPU.
#include "harness.h"
#include "native/ops/layernorm.h"

using namespace emu_test;

EMU_FAMILY(layernorm) {
  for (int64_t C : {1, 7, 40, 96}) {
    run(fmt("layernorm C=%ld", long(C)), [&] {
      const int64_t Tn = 300;  // > 128: three chunks
      PF x(rnd(Tn * C, -2, 3)), w(rnd(C)), b(rnd(C)), y(nans(Tn * C)), m(nans(Tn)), r(nans(Tn));
      cpu::layernorm_forward(x.c({Tn, C}), w.c({C}), b.c({C}), y.c({Tn, C}), m.c({Tn}), r.c({Tn}), 1e-5f);
      cuda::layernorm_forward(x.g({Tn, C}), w.g({C}), b.g({C}), y.g({Tn, C}), m.g({Tn}), r.g({Tn}), 1e-5f);
      same(fmt("layernorm_forward C=%ld y", long(C)), y);
      same(fmt("layernorm_forward C=%ld mean", long(C)), m);
      same(fmt("layernorm_forward C=%ld rstd", long(C)), r, C == 1 ? 1e-3 : 1e-4);
      PF dy(rnd(Tn * C)), dx(rnd(Tn * C)), dw(rnd(C)), db(rnd(C));
      // Both backends from the CPU's statistics, so only the backward differs.
      PF mc(m.h), rc(r.h);
      cpu::layernorm_backward(x.c({Tn, C}), w.c({C}), mc.c({Tn}), rc.c({Tn}), dy.c({Tn, C}), dx.c({Tn, C}), dw.c({C}), db.c({C}));
      cuda::layernorm_backward(x.g({Tn, C}), w.g({C}), mc.g({Tn}), rc.g({Tn}), dy.g({Tn, C}), dx.g({Tn, C}), dw.g({C}), db.g({C}));
      same(fmt("layernorm_backward C=%ld dx", long(C)), dx, C == 1 ? 1e-2 : 1e-4);
      // Column sums over 300 rows in another order than the CPU's: compared against their scale.
      same(fmt("layernorm_backward C=%ld dw", long(C)), dw, 1e-4, 1e-1);
      same(fmt("layernorm_backward C=%ld db", long(C)), db, 1e-4, 1e-1);
    });
  }
}
