#include <tuple>
// Runs the cuda:: ops (host-emulated kernels) against the cpu:: ops on random inputs.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>
#include "native/ops/linear.h"
#include "native/ops/layernorm.h"
#include "native/ops/patch_embed.h"
#include "native/cuda/gemm.h"
#include "native/cpu/gemm.h"
using namespace amae;

std::mt19937 rng(42);
std::vector<float> rnd(int64_t n, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
int failures = 0;
void cmp(const char* what, const std::vector<float>& a, const std::vector<float>& b, double tol = 1e-4) {
  double worst = 0; int64_t at = -1;
  if (a.size() != b.size()) { printf("FAIL %s size\n", what); failures++; return; }
  for (size_t i = 0; i < a.size(); ++i) {
    double e = std::fabs(a[i] - b[i]) / (1e-3 + std::fabs(b[i]));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  bool ok = worst <= tol;
  if (!ok) failures++;
  printf("%s %-48s worst rel %.2e at %ld%s\n", ok ? "ok  " : "FAIL", what, worst, (long)at,
         ok ? "" : (" (" + std::to_string(a[at]) + " vs " + std::to_string(b[at]) + ")").c_str());
}
Tensor T(std::vector<float>& v, std::initializer_list<int64_t> s, Device d = Device::CUDA) { return Tensor(v.data(), s, DType::F32, d); }
Tensor Tc(std::vector<float>& v, std::initializer_list<int64_t> s) { return Tensor(v.data(), s, DType::F32, Device::CPU); }

void test_gemm() {
  struct S { int64_t M, N, K; } shapes[] = {{1, 1, 1}, {70, 65, 33}, {64, 64, 16}, {5, 130, 17}, {129, 3, 40}};
  for (auto s : shapes)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, 1.0f, 0.5f}) {
          const int64_t lda = (ta ? s.M : s.K) + 3, ldb = (tb ? s.K : s.N) + 2, ldc = s.N + 1;
          auto A = rnd((ta ? s.K : s.M) * lda), B = rnd((tb ? s.N : s.K) * ldb), C0 = rnd(s.M * ldc);
          if (beta == 0) for (auto& c : C0) c = NAN;
          auto C1 = C0, C2 = C0;
          cpu::sgemm(ta, tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, beta, C1.data(), ldc);
          cuda::sgemm(ta, tb, s.M, s.N, s.K, 0.7f, A.data(), lda, B.data(), ldb, beta, C2.data(), ldc);
          // padding columns: compare only the M×N part (pad stays whatever it was in both)
          std::vector<float> a, b;
          for (int64_t i = 0; i < s.M; ++i) for (int64_t j = 0; j < ldc; ++j) {
            if (j < s.N) { a.push_back(C2[i * ldc + j]); b.push_back(C1[i * ldc + j]); }
            else if (!(std::isnan(C0[i*ldc+j]) && std::isnan(C2[i*ldc+j])) && C2[i * ldc + j] != C0[i * ldc + j]) { printf("FAIL pad written\n"); failures++; }
          }
          char name[128]; snprintf(name, sizeof name, "sgemm %ldx%ldx%ld ta%d tb%d beta%.1f", (long)s.M, (long)s.N, (long)s.K, ta, tb, beta);
          cmp(name, a, b);
        }
  // batched, K = 0, alpha = 0
  {
    const int64_t M = 20, N = 30, K = 10, batch = 3;
    auto A = rnd(batch * M * K), B = rnd(batch * N * K), C1 = rnd(batch * M * N), C2 = C1;
    for (int64_t i = 0; i < batch; ++i)
      cpu::sgemm(false, true, M, N, K, 1.0f, A.data() + i * M * K, K, B.data() + i * N * K, K, 1.0f, C1.data() + i * M * N, N);
    cuda::sgemm_batched(false, true, M, N, K, 1.0f, A.data(), K, M * K, B.data(), K, N * K, 1.0f, C2.data(), N, M * N, batch);
    cmp("sgemm_batched", C2, C1);
    auto C3 = C1, C4 = C1;
    cpu::sgemm(false, false, M, N, 0, 1.0f, A.data(), 0, B.data(), N, 0.5f, C3.data(), N);
    cuda::sgemm(false, false, M, N, 0, 1.0f, A.data(), 0, B.data(), N, 0.5f, C4.data(), N);
    cmp("sgemm K=0 beta=0.5", C4, C3);
    A[0] = NAN;
    cpu::sgemm(false, false, M, N, K, 0.0f, A.data(), K, B.data(), N, 0.0f, C3.data(), N);
    cuda::sgemm(false, false, M, N, K, 0.0f, A.data(), K, B.data(), N, 0.0f, C4.data(), N);
    cmp("sgemm alpha=0 beta=0", C4, C3);
  }
}

void test_linear() {
  const int64_t N = 300, in = 37, out = 45;  // N > 256: two column-sum chunks
  auto x = rnd(N * in), w = rnd(out * in), b = rnd(out), y1 = rnd(N * out), y2 = y1;
  cpu::linear_forward(Tc(x, {N, in}), Tc(w, {out, in}), Tc(b, {out}), Tc(y1, {N, out}));
  cuda::linear_forward(T(x, {N, in}), T(w, {out, in}), T(b, {out}), T(y2, {N, out}));
  cmp("linear_forward bias", y2, y1);
  cpu::linear_forward(Tc(x, {N, in}), Tc(w, {out, in}), Tensor(), Tc(y1, {N, out}));
  cuda::linear_forward(T(x, {N, in}), T(w, {out, in}), Tensor(), T(y2, {N, out}));
  cmp("linear_forward no bias", y2, y1);
  auto dy = rnd(N * out), dx1 = rnd(N * in), dw1 = rnd(out * in), db1 = rnd(out);
  auto dx2 = dx1, dw2 = dw1, db2 = db1;
  cpu::linear_backward(Tc(x, {N, in}), Tc(w, {out, in}), Tc(dy, {N, out}), Tc(dx1, {N, in}), Tc(dw1, {out, in}), Tc(db1, {out}));
  cuda::linear_backward(T(x, {N, in}), T(w, {out, in}), T(dy, {N, out}), T(dx2, {N, in}), T(dw2, {out, in}), T(db2, {out}));
  cmp("linear_backward dx", dx2, dx1);
  cmp("linear_backward dw", dw2, dw1);
  cmp("linear_backward db", db2, db1);
  auto dx3 = dx2;
  cuda::linear_backward(T(x, {N, in}), T(w, {out, in}), T(dy, {N, out}), Tensor(), Tensor(), Tensor());
  cmp("linear_backward none wanted", dx2, dx3);
}

void test_matmul() {
  const int64_t B = 3, M = 17, N = 23, K = 29;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto a = rnd(B * M * K), b = rnd(B * K * N), c1 = rnd(B * M * N), c2 = c1;
      const int64_t a1 = ta ? K : M, a2 = ta ? M : K, b1 = tb ? N : K, b2 = tb ? K : N;
#define sa {B, a1, a2}
#define sb {B, b1, b2}
      cpu::matmul_forward(Tc(a, sa), Tc(b, sb), Tc(c1, {B, M, N}), ta, tb, 0.3f);
      cuda::matmul_forward(T(a, sa), T(b, sb), T(c2, {B, M, N}), ta, tb, 0.3f);
      char name[96];
      snprintf(name, sizeof name, "matmul_forward ta%d tb%d", ta, tb);
      cmp(name, c2, c1);
      auto dc = rnd(B * M * N), da1 = rnd(B * M * K), db1 = rnd(B * K * N), da2 = da1, db2 = db1;
      cpu::matmul_backward(Tc(a, sa), Tc(b, sb), Tc(dc, {B, M, N}), Tc(da1, sa), Tc(db1, sb), ta, tb, 0.3f);
      cuda::matmul_backward(T(a, sa), T(b, sb), T(dc, {B, M, N}), T(da2, sa), T(db2, sb), ta, tb, 0.3f);
      snprintf(name, sizeof name, "matmul_backward da ta%d tb%d", ta, tb);
      cmp(name, da2, da1);
      snprintf(name, sizeof name, "matmul_backward db ta%d tb%d", ta, tb);
      cmp(name, db2, db1);
#undef sa
#undef sb
    }
}

void test_layernorm() {
  for (int64_t C : {7, 40, 96}) {
    const int64_t Tn = 300;  // > 128: three chunks
    auto x = rnd(Tn * C, -2, 3), w = rnd(C), b = rnd(C), y1 = rnd(Tn * C), y2 = y1, m1 = rnd(Tn), m2 = m1, r1 = rnd(Tn), r2 = r1;
    cpu::layernorm_forward(Tc(x, {Tn, C}), Tc(w, {C}), Tc(b, {C}), Tc(y1, {Tn, C}), Tc(m1, {Tn}), Tc(r1, {Tn}), 1e-5f);
    cuda::layernorm_forward(T(x, {Tn, C}), T(w, {C}), T(b, {C}), T(y2, {Tn, C}), T(m2, {Tn}), T(r2, {Tn}), 1e-5f);
    cmp("layernorm_forward y", y2, y1);
    cmp("layernorm_forward mean", m2, m1);
    cmp("layernorm_forward rstd", r2, r1);
    auto dy = rnd(Tn * C), dx1 = rnd(Tn * C), dw1 = rnd(C), db1 = rnd(C), dx2 = dx1, dw2 = dw1, db2 = db1;
    cpu::layernorm_backward(Tc(x, {Tn, C}), Tc(w, {C}), Tc(m1, {Tn}), Tc(r1, {Tn}), Tc(dy, {Tn, C}), Tc(dx1, {Tn, C}), Tc(dw1, {C}), Tc(db1, {C}));
    cuda::layernorm_backward(T(x, {Tn, C}), T(w, {C}), T(m1, {Tn}), T(r1, {Tn}), T(dy, {Tn, C}), T(dx2, {Tn, C}), T(dw2, {C}), T(db2, {C}));
    cmp("layernorm_backward dx", dx2, dx1);
    cmp("layernorm_backward dw", dw2, dw1);
    cmp("layernorm_backward db", db2, db1);
  }
}

void test_patch_embed() {
  const int64_t N = 2, C = 2, H = 9, W = 8, D = 7, p = 3, E = 10;  // remainders in H, W, D
  const int64_t P = (H / p) * (W / p) * (D / p), K = C * p * p * p;
  auto x = rnd(N * C * H * W * D), w = rnd(E * K), b = rnd(E), sw = rnd(N * E), sb = rnd(N * E);
  for (int variant = 0; variant < 3; ++variant) {
    // 0: plain conv; 1: b only; 2: b, sw, sb
    Tensor tb = variant >= 1 ? T(b, {E}) : Tensor(), tsw = variant == 2 ? T(sw, {N, E}) : Tensor(), tsb = variant == 2 ? T(sb, {N, E}) : Tensor();
    Tensor cb = variant >= 1 ? Tc(b, {E}) : Tensor(), csw = variant == 2 ? Tc(sw, {N, E}) : Tensor(), csb = variant == 2 ? Tc(sb, {N, E}) : Tensor();
    auto y1 = rnd(N * P * E), y2 = y1;
    cpu::patch_embed_forward(Tc(x, {N, C, H, W, D}), Tc(w, {E, C, p, p, p}), cb, csw, csb, Tc(y1, {N, P, E}), p);
    cuda::patch_embed_forward(T(x, {N, C, H, W, D}), T(w, {E, C, p, p, p}), tb, tsw, tsb, T(y2, {N, P, E}), p);
    char name[96];
    snprintf(name, sizeof name, "patch_embed_forward v%d", variant);
    cmp(name, y2, y1);
    auto dy = rnd(N * P * E), dx1 = rnd(N * C * H * W * D), dw1 = rnd(E * K), db1 = rnd(E), dsw1 = rnd(N * E), dsb1 = rnd(N * E);
    auto dx2 = dx1, dw2 = dw1, db2 = db1, dsw2 = dsw1, dsb2 = dsb1;
    cpu::patch_embed_backward(Tc(x, {N, C, H, W, D}), Tc(w, {E, C, p, p, p}), cb, csw, csb, Tc(dy, {N, P, E}), Tc(dx1, {N, C, H, W, D}),
                              Tc(dw1, {E, C, p, p, p}), Tc(db1, {E}), Tc(dsw1, {N, E}), Tc(dsb1, {N, E}), p);
    cuda::patch_embed_backward(T(x, {N, C, H, W, D}), T(w, {E, C, p, p, p}), tb, tsw, tsb, T(dy, {N, P, E}), T(dx2, {N, C, H, W, D}),
                               T(dw2, {E, C, p, p, p}), T(db2, {E}), T(dsw2, {N, E}), T(dsb2, {N, E}), p);
    for (auto [n, a, bb] : {std::tuple<const char*, std::vector<float>*, std::vector<float>*>{"dx", &dx2, &dx1}, {"dw", &dw2, &dw1}, {"db", &db2, &db1}, {"dsw", &dsw2, &dsw1}, {"dsb", &dsb2, &dsb1}}) {
      snprintf(name, sizeof name, "patch_embed_backward v%d %s", variant, n);
      cmp(name, *a, *bb);
    }
  }
  {  // only some gradients wanted: dx and db (no patches extracted, no tokens)
    auto dy = rnd(N * P * E), dx1 = rnd(N * C * H * W * D), db1 = rnd(E), dx2 = dx1, db2 = db1;
    cpu::patch_embed_backward(Tc(x, {N, C, H, W, D}), Tc(w, {E, C, p, p, p}), Tc(b, {E}), Tc(sw, {N, E}), Tc(sb, {N, E}),
                              Tc(dy, {N, P, E}), Tc(dx1, {N, C, H, W, D}), Tensor(), Tc(db1, {E}), Tensor(), Tensor(), p);
    cuda::patch_embed_backward(T(x, {N, C, H, W, D}), T(w, {E, C, p, p, p}), T(b, {E}), T(sw, {N, E}), T(sb, {N, E}),
                               T(dy, {N, P, E}), T(dx2, {N, C, H, W, D}), Tensor(), T(db2, {E}), Tensor(), Tensor(), p);
    cmp("patch_embed_backward dx+db only: dx", dx2, dx1);
    cmp("patch_embed_backward dx+db only: db", db2, db1);
  }
  // patchify
  auto pt1 = rnd(N * P * K), pt2 = pt1;
  cpu::patchify_forward(Tc(x, {N, C, H, W, D}), Tc(pt1, {N, P, K}), p);
  cuda::patchify_forward(T(x, {N, C, H, W, D}), T(pt2, {N, P, K}), p);
  cmp("patchify_forward", pt2, pt1);
  auto dx1 = rnd(N * C * H * W * D), dx2 = dx1;
  cpu::patchify_backward(Tc(pt1, {N, P, K}), Tc(dx1, {N, C, H, W, D}), p);
  cuda::patchify_backward(T(pt1, {N, P, K}), T(dx2, {N, C, H, W, D}), p);
  cmp("patchify_backward", dx2, dx1);
}

void test_rows() {
  const int64_t E = 12, K = 20;
  std::vector<int32_t> off = {0, 5, 5, 140, 141, 300};  // an empty segment; T = 300
  const int64_t S = off.size() - 1, Tn = off.back();
  auto pt = rnd(Tn * K), w = rnd(E * K), b = rnd(E), sw = rnd(S * E), sb = rnd(S * E);
  for (int variant = 0; variant < 4; ++variant) {
    for (int host_off = 0; host_off < 2; ++host_off) {
      Tensor toff(off.data(), {S + 1}, DType::I32, host_off ? Device::CPU : Device::CUDA), coff(off.data(), {S + 1}, DType::I32);
      const bool has_b = variant >= 1, has_s = variant >= 2, has_z = variant != 1;
      Tensor tb = has_b ? T(b, {E}) : Tensor(), tsw = has_s ? T(sw, {S, E}) : Tensor(), tsb = variant == 2 ? T(sb, {S, E}) : Tensor();
      Tensor cb = has_b ? Tc(b, {E}) : Tensor(), csw = has_s ? Tc(sw, {S, E}) : Tensor(), csb = variant == 2 ? Tc(sb, {S, E}) : Tensor();
      auto y1 = rnd(Tn * E), y2 = y1, z1 = rnd(Tn * E), z2 = z1;
      cpu::patch_embed_rows_forward(Tc(pt, {Tn, K}), coff, Tc(w, {E, K}), cb, csw, csb, has_z ? Tc(z1, {Tn, E}) : Tensor(), Tc(y1, {Tn, E}));
      cuda::patch_embed_rows_forward(T(pt, {Tn, K}), toff, T(w, {E, K}), tb, tsw, tsb, has_z ? T(z2, {Tn, E}) : Tensor(), T(y2, {Tn, E}));
      char name[96];
      snprintf(name, sizeof name, "patch_embed_rows_forward v%d host_off%d y", variant, host_off);
      cmp(name, y2, y1);
      snprintf(name, sizeof name, "patch_embed_rows_forward v%d host_off%d z", variant, host_off);
      cmp(name, z2, z1);
      auto dy = rnd(Tn * E), dp1 = rnd(Tn * K), dw1 = rnd(E * K), db1 = rnd(E), dsw1 = rnd(S * E), dsb1 = rnd(S * E);
      auto dp2 = dp1, dw2 = dw1, db2 = db1, dsw2 = dsw1, dsb2 = dsb1;
      cpu::patch_embed_rows_backward(Tc(pt, {Tn, K}), coff, Tc(w, {E, K}), cb, csw, csb, has_z ? Tc(z1, {Tn, E}) : Tensor(), Tc(dy, {Tn, E}),
                                     Tc(dp1, {Tn, K}), Tc(dw1, {E, K}), Tc(db1, {E}), has_z ? Tc(dsw1, {S, E}) : Tensor(), Tc(dsb1, {S, E}));
      cuda::patch_embed_rows_backward(T(pt, {Tn, K}), toff, T(w, {E, K}), tb, tsw, tsb, has_z ? T(z2, {Tn, E}) : Tensor(), T(dy, {Tn, E}),
                                      T(dp2, {Tn, K}), T(dw2, {E, K}), T(db2, {E}), has_z ? T(dsw2, {S, E}) : Tensor(), T(dsb2, {S, E}));
      for (auto [n, a, bb] : {std::tuple<const char*, std::vector<float>*, std::vector<float>*>{"dpatches", &dp2, &dp1}, {"dw", &dw2, &dw1}, {"db", &db2, &db1}, {"dsw", &dsw2, &dsw1}, {"dsb", &dsb2, &dsb1}}) {
        snprintf(name, sizeof name, "patch_embed_rows_backward v%d host_off%d %s", variant, host_off, n);
        cmp(name, *a, *bb);
      }
    }
  }
}

int main() {
  test_gemm();
  test_linear();
  test_matmul();
  test_layernorm();
  test_patch_embed();
  test_rows();
  printf("%d failures\n", failures);
  return failures != 0;
}
