// Element-wise math the compiler can vectorise. libm's expf is a scalar call, so a softmax row
// loop over it runs one lane at a time; this exp is straight-line arithmetic that GCC turns into
// 8-wide AVX2 code. Pure functions of their input: results never depend on threads or order.
#pragma once
#include <cstdint>
#include <cstring>

namespace amae::cpu {

// e^x within 4e-7 relative (a few ulp) for x in [-87.3, 88.7] (clamped outside: e^-87.3 is already negligible next
// to the 1 a softmax row's maximum contributes). Range reduction x = n·ln2 + r with ln2 split in
// two (Cody–Waite), then a degree-6 minimax polynomial for e^r on [-ln2/2, ln2/2], scaled by 2^n
// built in the exponent bits.
inline float vexp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

}  // namespace amae::cpu
