// The vectorisable exp and erf against libm over their whole useful ranges.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

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

  // verf in ulps of the exactly rounded erf, on every 61st float of (1e-6, 5): both branches, the
  // switch at 0.921875 and the clamp at 4 (libm's erff is within 1 ulp).
  double worst_erf = 0;
  for (uint32_t bits = 0x358637bdu; bits < 0x40a00000u; bits += 61) {
    float x;
    std::memcpy(&x, &bits, sizeof x);
    const double ref = std::erf(double(x));
    const float rounded = float(ref);
    const double ulp = double(std::nextafter(rounded, 2.0f)) - double(rounded);
    worst_erf = std::fmax(worst_erf, std::fabs(double(amae::cpu::verf(x)) - ref) / ulp);
    expect(amae::cpu::verf(-x) == -amae::cpu::verf(x), "verf is odd");
  }
  std::fprintf(stderr, "verf worst error %.3g ulp\n", worst_erf);
  expect(worst_erf < 1.5, "verf within 1.5 ulp of erf");
  expect(amae::cpu::verf(0.0f) == 0.0f && std::fabs(amae::cpu::verf(1e-30f) / 1e-30 - 1.1283791670955126) < 2e-7,
         "verf(x) = 2x/√π near 0");
  expect(amae::cpu::verf(100.0f) == 1.0f && amae::cpu::verf(-INFINITY) == -1.0f, "verf saturates at ±1");
  return check::report();
}
