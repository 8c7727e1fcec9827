// A small seeded random number generator for parameter initialisation: xoshiro256** (Blackman &
// Vigna) seeded through splitmix64, uniform floats from the top 53 bits, normals by Box–Muller.
// Everything is integer arithmetic or IEEE double with a fixed order, so the same seed gives the
// same numbers on every machine and thread count. Not for cryptography, and not the data
// pipeline's RNG (TypeScript owns that, spec ARCHITECTURE "who owns what").
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

namespace amae {

// One step of splitmix64: a good 64-bit mixer, used to expand a seed into xoshiro's state.
inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a of a string: lets each named parameter draw from its own stream, so adding or
// reordering parameters never changes how the others are initialised.
inline uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  // The stream of one named tensor under a model seed.
  Rng(uint64_t seed, const std::string& name) : Rng(seed ^ fnv1a(name)) {}

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box–Muller; each call uses two uniforms and returns the cosine branch
  // (no cached second value, so a draw never depends on the parity of earlier draws).
  double normal() {
    const double u = 1.0 - uniform();  // (0, 1]: log stays finite
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * uniform());
  }
  // N(0, std²) truncated to ±2·std by redrawing (the ViT convention for "trunc-normal 0.02").
  double trunc_normal(double std) {
    for (;;) {
      const double z = normal();
      if (std::fabs(z) <= 2.0) return z * std;
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace amae
