// Deterministic float reductions for the CPU kernels.
#pragma once
#include <cstdint>

namespace amae::cpu {

// Σ_{i<n} f(i), kept in 16 interleaved partial sums that are combined in a fixed tree at the
// end. A plain serial float sum may not be reordered, so the compiler leaves it scalar; the
// interleaved form vectorises, and its rounding depends only on n and the values, never on
// threads or scheduling.
template <class F>
inline float lane_sum(int64_t n, F f) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  for (int j = 0; i + j < n; ++j) acc[j] += f(i + j);
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

}  // namespace amae::cpu
