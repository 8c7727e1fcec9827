// cuda::sgemm / sgemm_batched (the own tiled kernel: the emulation has no cuBLAS) vs cpu::sgemm.
#include "harness.h"
#include "native/cpu/gemm.h"
#include "native/cuda/gemm.h"

using namespace emu_test;

EMU_FAMILY(gemm) {
  struct S { int64_t M, N, K; } shapes[] = {{1, 1, 1}, {70, 65, 33}, {64, 64, 16}, {5, 130, 17}, {129, 3, 40}};
  for (auto s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, 1.0f, 0.5f}) {
          const std::string name = fmt("sgemm %ldx%ldx%ld ta%d tb%d beta%.1f", long(s.M), long(s.N), long(s.K), ta, tb, beta);
          run(name, [&] {
            // Padded leading dimensions; the pad columns of C must stay untouched.
            const int64_t lda = (ta ? s.M : s.K) + 3, ldb = (tb ? s.K : s.N) + 2, ldc = s.N + 1;
            PF A(rnd((ta ? s.K : s.M) * lda)), B(rnd((tb ? s.N : s.K) * ldb));
            F c0 = rnd(s.M * ldc);
            if (beta == 0)  // beta 0: C is not read, so NaN must not leak through
              for (int64_t i = 0; i < s.M; ++i)
                for (int64_t j = 0; j < s.N; ++j) c0[i * ldc + j] = NAN;
            PF C(c0);
            cpu::sgemm(ta, tb, s.M, s.N, s.K, 0.7f, A.hp(), lda, B.hp(), ldb, beta, C.hp(), ldc);
            cuda::sgemm(ta, tb, s.M, s.N, s.K, 0.7f, A.dp(), lda, B.dp(), ldb, beta, C.dp(), ldc);
            same(name, C);
          });
        }
  run("sgemm_batched", [&] {
    const int64_t M = 20, N = 30, K = 10, batch = 3;
    PF A(rnd(batch * M * K)), B(rnd(batch * N * K)), C(rnd(batch * M * N));
    for (int64_t i = 0; i < batch; ++i)
      cpu::sgemm(false, true, M, N, K, 1.0f, A.hp() + i * M * K, K, B.hp() + i * N * K, K, 1.0f, C.hp() + i * M * N, N);
    cuda::sgemm_batched(false, true, M, N, K, 1.0f, A.dp(), K, M * K, B.dp(), K, N * K, 1.0f, C.dp(), N, M * N, batch);
    same("sgemm_batched", C);
  });
  run("sgemm K=0, alpha=0", [&] {
    const int64_t M = 20, N = 30, K = 10;
    PF A(rnd(M * K)), B(rnd(K * N)), C(rnd(M * N));
    cpu::sgemm(false, false, M, N, 0, 1.0f, A.hp(), 0, B.hp(), N, 0.5f, C.hp(), N);
    cuda::sgemm(false, false, M, N, 0, 1.0f, A.dp(), 0, B.dp(), N, 0.5f, C.dp(), N);
    same("sgemm K=0 beta=0.5", C);
    F a0 = A.h;
    a0[0] = NAN;
    PF A2(a0), C2(nans(M * N));
    cpu::sgemm(false, false, M, N, K, 0.0f, A2.hp(), K, B.hp(), N, 0.0f, C2.hp(), N);
    cuda::sgemm(false, false, M, N, K, 0.0f, A2.dp(), K, B.dp(), N, 0.0f, C2.dp(), N);
    same("sgemm alpha=0 beta=0 (NaN in A, C poisoned)", C2);
  });
}
