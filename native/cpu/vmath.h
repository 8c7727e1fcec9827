// Element-wise math the compiler can vectorise. libm's expf and erff are scalar calls, so a loop
// over them runs one lane at a time; these are straight-line arithmetic that GCC turns into 8-wide
// AVX2 code. Pure functions of their input: results never depend on threads or order.
#pragma once
#include <cstdint>
#include <cstring>

// An element-wise loop marked AMAE_VECTOR_CLONES is compiled twice, for the build baseline (8-wide
// AVX2) and for AVX-512 (16-wide), and the loader picks the one the CPU runs. The arithmetic per
// element is the same in both (the same operations, fused alike), so the results agree bit for bit;
// only the lane count differs. For loops whose cost is the arithmetic (exp, erf), not memory.
#define AMAE_VECTOR_CLONES __attribute__((target_clones("avx512f", "default")))

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

// erf(x) within about 1 ulp of libm's erff (test/native/cpp/vmath.cpp), for GELU's forward and
// backward alike (the same function in both keeps the model's finite-difference check
// consistent). |x| < 0.921875: x + x·P(x²); above: 1 − e^(−Q(|x|)) with |x| clamped to 4, past
// which erf rounds to 1 in float. Both branches are computed and one selected, so the loop
// vectorises. P (degree 6) and Q (degree 6) are minimax fits (Lawson's iteration) of erf's
// relative error on [0, 0.921875] and [0.921875, 4], 4e-10 and 2e-9 before float rounding.
inline float verf(float x) {
  const float a = __builtin_fabsf(x);
  const float z = x * x;
  float p = 8.370242974e-05f;
  p = p * z - 8.142744161e-04f;
  p = p * z + 5.201036582e-03f;
  p = p * z - 2.685940048e-02f;
  p = p * z + 1.128369555e-01f;
  p = p * z - 3.761263374e-01f;
  p = p * z + 1.283791666e-01f;
  const float small = x + x * p;
  const float b = a < 4.0f ? a : 4.0f;
  float q = -1.957217279e-04f;
  q = q * b + 3.041102602e-03f;
  q = q * b - 2.221848699e-02f;
  q = q * b + 1.039140946e-01f;
  q = q * b + 6.372021982e-01f;
  q = q * b + 1.127663773e+00f;
  q = q * b + 1.985456101e-04f;
  const float large = __builtin_copysignf(1.0f - vexp(-q), x);
  return a < 0.921875f ? small : large;
}

}  // namespace amae::cpu
