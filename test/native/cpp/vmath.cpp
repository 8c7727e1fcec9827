// The vectorisable exp against libm over its whole useful range.
#include <cmath>
#include <cstdio>

#include "../../../native/cpu/vmath.h"
#include "check.h"

using check::expect;

int main() {
  double worst_exp = 0;
  for (double x = -87.0; x <= 88.0; x += 1e-3) {
    const float xf = float(x);
    const double ref = std::exp(double(xf));
    worst_exp = std::fmax(worst_exp, std::fabs(amae::cpu::vexp(xf) - ref) / ref);
  }
  std::fprintf(stderr, "vexp worst relative error %.3g\n", worst_exp);
  expect(worst_exp < 4e-7, "vexp within 4e-7 (relative) of e^x");
  expect(amae::cpu::vexp(-1000.0f) >= 0.0f && amae::cpu::vexp(-1000.0f) < 1e-37f, "vexp clamps far below");
  return check::report();
}
