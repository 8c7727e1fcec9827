/* The OpenBLAS anchor of bench/gemm.bench.ts: times one row-major cblas_sgemm and prints
 *   {"seconds": <median seconds per call>, "runs": <timed calls>}
 * usage: openblas_gemm TRANS_A TRANS_B M N K BETA MIN_SECONDS   (TRANS_* are 0 or 1)
 * Timing follows bench/util.ts's timeit: one warm-up call, then at least three calls and at
 * least MIN_SECONDS, median. The thread count comes from OPENBLAS_NUM_THREADS. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static float* filled(size_t n, unsigned seed) {
  float* p = malloc(n * sizeof(float));
  if (!p) exit(2);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return p;
}

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s TRANS_A TRANS_B M N K BETA MIN_SECONDS\n", argv[0]);
    return 1;
  }
  const int ta = atoi(argv[1]), tb = atoi(argv[2]);
  const int M = atoi(argv[3]), N = atoi(argv[4]), K = atoi(argv[5]);
  const float beta = (float)atof(argv[6]);
  const double min_seconds = atof(argv[7]);
  /* Row-major storage as amae's ops use it: A is M×K (K×M when transposed), B is K×N (N×K). */
  const int lda = ta ? M : K, ldb = tb ? K : N;
  float* A = filled((size_t)M * K, 1);
  float* B = filled((size_t)K * N, 2);
  float* C = filled((size_t)M * N, 3);

  enum { kMaxRuns = 100000 };
  static double times[kMaxRuns];
  int runs = 0;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda, B,
              ldb, beta, C, N);
  const double start = now();
  while (runs < kMaxRuns && (runs < 3 || now() - start < min_seconds)) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                B, ldb, beta, C, N);
    times[runs++] = now() - t0;
  }
  qsort(times, runs, sizeof(double), by_value);
  printf("{\"seconds\": %.9g, \"runs\": %d}\n", times[runs / 2], runs);
  free(A);
  free(B);
  free(C);
  return 0;
}
