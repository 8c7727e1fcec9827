// cuda:: activations and the residual add vs the CPU: empty, tiny and grid-stride sizes, special
// values (NaN, ±Inf, ±0, huge), every backward accumulating, add in place on either side.
#include "harness.h"
#include "native/ops/activation.h"

using namespace emu_test;

// With `infinite`, ±Inf among the specials. gelu_backward gets none: at ±Inf its formula is
// cdf + x·pdf = ±Inf·0, NaN with expf (CUDA, PyTorch), while the CPU's vexp clamps its argument
// at −87.3 (e^−87.3 ≈ 1e-38, not 0) and gives ±Inf: a CPU/CUDA difference at Inf only.
static F inputs(int64_t n, bool infinite = true) {
  F x = rnd(n, -5, 5);
  const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-30f, 30.0f, -30.0f, 1e20f, -1e20f};
  for (int64_t i = 0; i < n && i < 10; ++i) x[size_t(i)] = special[i];
  if (!infinite)
    for (int64_t i = 1; i < n && i < 3; ++i) x[size_t(i)] = i == 1 ? 40.0f : -40.0f;
  return x;
}

EMU_FAMILY(activation) {
  // 5000 > the 16 blocks × 256 threads blocks_for gives with EMU_SMALL: grid-stride.
  for (int64_t n : {0, 1, 37, 5000}) {
    run(fmt("activation n=%ld", long(n)), [&] {
      PF x(inputs(n)), xf(inputs(n, false)), dy(rnd(n)), y(nans(n)), dx(rnd(n));
      cpu::gelu_forward(x.c({n}), y.c({n}));
      cuda::gelu_forward(x.g({n}), y.g({n}));
      // Where x ≪ 0, 1 + erf(x/√2) cancels and the two erfs' last-ulp differences show: O(1)
      // values are compared to 1e-4, tiny ones (|y| ≪ 1e-2) absolutely to 1e-6.
      same(fmt("gelu_forward n=%ld", long(n)), y, 1e-4, 1e-2);
      cpu::gelu_backward(xf.c({n}), dy.c({n}), dx.c({n}));
      cuda::gelu_backward(xf.g({n}), dy.g({n}), dx.g({n}));
      same(fmt("gelu_backward n=%ld (adds into dx)", long(n)), dx);
      for (float slope : {0.01f, 0.2f}) {
        PF ly(nans(n)), ldx(rnd(n));
        cpu::leaky_relu_forward(x.c({n}), ly.c({n}), slope);
        cuda::leaky_relu_forward(x.g({n}), ly.g({n}), slope);
        same(fmt("leaky_relu_forward n=%ld slope %g", long(n), slope), ly, 0);
        PF yy(ly.h);  // the backward reads the forward output
        cpu::leaky_relu_backward(yy.c({n}), dy.c({n}), ldx.c({n}), slope);
        cuda::leaky_relu_backward(yy.g({n}), dy.g({n}), ldx.g({n}), slope);
        same(fmt("leaky_relu_backward n=%ld slope %g", long(n), slope), ldx, 0);
      }
      // add: separate output, y = a (in place), y = b (in place), a = b = y.
      PF a(inputs(n)), b(rnd(n)), s(nans(n));
      cpu::add_forward(a.c({n}), b.c({n}), s.c({n}));
      cuda::add_forward(a.g({n}), b.g({n}), s.g({n}));
      same(fmt("add_forward n=%ld", long(n)), s, 0);
      PF a1(a.h), a2(a.h), b2(b.h);
      cpu::add_forward(a1.c({n}), b.c({n}), a1.c({n}));
      cuda::add_forward(a1.g({n}), b.g({n}), a1.g({n}));
      same(fmt("add_forward n=%ld in place y=a", long(n)), a1, 0);
      cpu::add_forward(a.c({n}), b2.c({n}), b2.c({n}));
      cuda::add_forward(a.g({n}), b2.g({n}), b2.g({n}));
      same(fmt("add_forward n=%ld in place y=b", long(n)), b2, 0);
      cpu::add_forward(a2.c({n}), a2.c({n}), a2.c({n}));
      cuda::add_forward(a2.g({n}), a2.g({n}), a2.g({n}));
      same(fmt("add_forward n=%ld a=b=y", long(n)), a2, 0);
    });
  }
}
