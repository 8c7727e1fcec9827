// amae's sgemm timed on its own, the same way bench/openblas_gemm.c times cblas_sgemm (same
// arguments, same output line), so bench/gemm.bench.ts can tell the kernel from the cost of the
// JS op API around it. Built on the fly from native/cpu/gemm.cpp and native/core/threads.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../native/cpu/gemm.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<float> filled(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 16777216.0f - 0.5f;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: %s TRANS_A TRANS_B M N K BETA MIN_SECONDS\n", argv[0]);
    return 1;
  }
  const bool ta = std::atoi(argv[1]) != 0, tb = std::atoi(argv[2]) != 0;
  const int64_t M = std::atoll(argv[3]), N = std::atoll(argv[4]), K = std::atoll(argv[5]);
  const float beta = static_cast<float>(std::atof(argv[6]));
  const double min_seconds = std::atof(argv[7]);
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  const std::vector<float> A = filled(static_cast<size_t>(M * K), 1), B = filled(static_cast<size_t>(K * N), 2);
  std::vector<float> C = filled(static_cast<size_t>(M * N), 3);

  auto call = [&] { amae::cpu::sgemm(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, beta, C.data(), N); };
  std::vector<double> times;
  call();
  const double start = now();
  while (times.size() < 3 || now() - start < min_seconds) {
    const double t0 = now();
    call();
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"seconds\": %.9g, \"runs\": %zu}\n", times[times.size() / 2], times.size());
  return 0;
}
