// sgemm_direct (operands read in place) against sgemm (operands packed): bit-identical for both
// A layouts, edge slivers in M and N, several K blocks, beta 0 / 1 / other, and strided views.
// Runs itself again with AMAE_GEMM_ISA=avx2 so that both kernels are covered.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../../native/cpu/gemm.h"
#include "check.h"

using check::expect;

namespace {

std::vector<float> filled(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / 16777216.0f - 0.5f;
  }
  return v;
}

// One case on matrices with padded row strides (views into wider buffers, as attention's heads).
bool same(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, float beta) {
  const int64_t lda = (trans_a ? M : K) + 5, ldb = N + 3, ldc = N + 7;
  const std::vector<float> A = filled(static_cast<size_t>((trans_a ? K : M) * lda), 1);
  const std::vector<float> B = filled(static_cast<size_t>(K * ldb), 2);
  std::vector<float> packed = filled(static_cast<size_t>(M * ldc), 3), direct = packed;
  amae::cpu::sgemm(trans_a, false, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, packed.data(), ldc);
  amae::cpu::sgemm_direct(trans_a, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, direct.data(), ldc);
  return std::memcmp(packed.data(), direct.data(), packed.size() * sizeof(float)) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t sizes[][3] = {{64, 32, 648}, {648, 32, 64}, {195, 64, 64}, {13, 5, 7}, {1, 1, 1},
                              {70, 96, 900}, {14, 32, 384}, {29, 47, 385}};
  for (const auto& sz : sizes)
    for (bool trans_a : {false, true})
      for (float beta : {0.0f, 1.0f, 0.5f}) expect(same(trans_a, sz[0], sz[1], sz[2], 0.125f, beta), "sgemm_direct == sgemm");
  if (!std::getenv("AMAE_GEMM_ISA")) {
    const std::string again = std::string("AMAE_GEMM_ISA=avx2 ") + argv[0] + " > /dev/null";
    expect(argc == 1 && std::system(again.c_str()) == 0, "sgemm_direct == sgemm with the AVX2 kernel");
  }
  return check::report();
}
