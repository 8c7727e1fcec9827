// cuda:: concat, embed_add, gather_rows vs the CPU. The scatter-adds (embed_add_backward into
// the tables, gather_rows_backward) go through a radix sort (the CUB test double here) and must
// match the CPU bit for bit: repeated rows, one row taking every token (long runs), a 1-row
// table, rows never hit, widths below, at and above a warp, every optional gradient left out.
#include "harness.h"
#include "native/ops/sequence.h"

using namespace emu_test;

static void concat(int64_t N, int64_t Ca, int64_t Cb, std::vector<int64_t> inner) {
  int64_t v = 1;
  for (auto d : inner) v *= d;
  const int64_t C = Ca + Cb;
  const std::string s = fmt("concat N=%ld Ca=%ld Cb=%ld v=%ld", long(N), long(Ca), long(Cb), long(v));
  auto sh = [&](auto& p, int64_t c, bool g) {
    return inner.empty() ? (g ? p.g({N, c}) : p.c({N, c}))
                         : (g ? p.g({N, c, inner[0], inner[1]}) : p.c({N, c, inner[0], inner[1]}));
  };
  PF a(rnd(N * Ca * v)), b(rnd(N * Cb * v)), y(nans(N * C * v));
  cpu::concat_forward(sh(a, Ca, false), sh(b, Cb, false), sh(y, C, false));
  cuda::concat_forward(sh(a, Ca, true), sh(b, Cb, true), sh(y, C, true));
  same("concat_forward " + s, y, 0);
  PF dy(rnd(N * C * v));
  for (int want = 1; want < 4; ++want) {  // da only, db only, both
    PF da(rnd(N * Ca * v)), db(rnd(N * Cb * v));
    cpu::concat_backward(sh(dy, C, false), want & 1 ? sh(da, Ca, false) : Tensor(), want & 2 ? sh(db, Cb, false) : Tensor());
    cuda::concat_backward(sh(dy, C, true), want & 1 ? sh(da, Ca, true) : Tensor(), want & 2 ? sh(db, Cb, true) : Tensor());
    same(fmt("concat_backward %s %s da", s.c_str(), want == 1 ? "da only" : want == 2 ? "db only" : "both"), da, 0);
    same(fmt("concat_backward %s %s db", s.c_str(), want == 1 ? "da only" : want == 2 ? "db only" : "both"), db, 0);
  }
}

static void embed(int64_t T, int64_t E, int64_t P, int64_t K, bool one_row) {
  const std::string s = fmt("embed_add T=%ld E=%ld P=%ld K=%ld%s", long(T), long(E), long(P), long(K), one_row ? " all tokens on row 0" : "");
  PF x(rnd(T * E)), pos(rnd(P * E)), mod(rnd(K * E)), y(nans(T * E));
  PI pi(one_row ? I(size_t(T), 0) : rnd_int(T, 0, int(P - 1))), mi(rnd_int(T, 0, int(K - 1)));
  cpu::embed_add_forward(x.c({T, E}), pos.c({P, E}), mod.c({K, E}), pi.c({T}), mi.c({T}), y.c({T, E}));
  cuda::embed_add_forward(x.g({T, E}), pos.g({P, E}), mod.g({K, E}), pi.g({T}), mi.g({T}), y.g({T, E}));
  same("embed_add_forward " + s, y, 0);
  PF dy(rnd(T * E));
  for (int want = 0; want < 8; ++want) {  // every subset of dx, dpos, dmod
    PF dx(rnd(T * E)), dpos(rnd(P * E)), dmod(rnd(K * E));
    cpu::embed_add_backward(pi.c({T}), mi.c({T}), dy.c({T, E}), want & 1 ? dx.c({T, E}) : Tensor(),
                            want & 2 ? dpos.c({P, E}) : Tensor(), want & 4 ? dmod.c({K, E}) : Tensor());
    cuda::embed_add_backward(pi.g({T}), mi.g({T}), dy.g({T, E}), want & 1 ? dx.g({T, E}) : Tensor(),
                             want & 2 ? dpos.g({P, E}) : Tensor(), want & 4 ? dmod.g({K, E}) : Tensor());
    const std::string w = fmt(" wanted dx%d dpos%d dmod%d", want & 1, (want >> 1) & 1, (want >> 2) & 1);
    same("embed_add_backward dx " + s + w, dx, 0);
    same("embed_add_backward dpos " + s + w, dpos, 0);
    same("embed_add_backward dmod " + s + w, dmod, 0);
  }
}

static void gather(int64_t R, int64_t T, std::vector<int64_t> inner, int mode) {
  int64_t width = 1;
  for (auto d : inner) width *= d;
  // mode 0: random rows; 1: every token on the last row; 2: a permutation-like mix with long runs
  I idx = rnd_int(T, 0, int(R - 1));
  if (mode == 1) idx.assign(size_t(T), int(R - 1));
  if (mode == 2)
    for (int64_t t = 0; t < T; ++t) idx[size_t(t)] = int((t / 7) % R);
  const std::string s = fmt("gather_rows R=%ld T=%ld width=%ld mode %d", long(R), long(T), long(width), mode);
  auto xs = [&](auto& p, int64_t rows, bool g) {
    return inner.size() == 2 ? (g ? p.g({rows, inner[0], inner[1]}) : p.c({rows, inner[0], inner[1]}))
                             : (g ? p.g({rows, width}) : p.c({rows, width}));
  };
  PF x(rnd(R * width)), y(nans(T * width));
  PI ix(idx);
  cpu::gather_rows_forward(xs(x, R, false), ix.c({T}), xs(y, T, false));
  cuda::gather_rows_forward(xs(x, R, true), ix.g({T}), xs(y, T, true));
  same("gather_rows_forward " + s, y, 0);
  PF dy(rnd(T * width)), dx(rnd(R * width));
  cpu::gather_rows_backward(ix.c({T}), xs(dy, T, false), xs(dx, R, false));
  cuda::gather_rows_backward(ix.g({T}), xs(dy, T, true), xs(dx, R, true));
  same("gather_rows_backward " + s, dx, 0);
}

static void tokens_to_volume(int64_t N, int64_t P, int64_t E) {
  const std::string s = fmt("tokens_to_volume N=%ld P=%ld E=%ld", long(N), long(P), long(E));
  PF x(rnd(N * P * E)), y(nans(N * P * E));
  cpu::tokens_to_volume_forward(x.c({N, P, E}), y.c({N, E, P, 1, 1}));
  cuda::tokens_to_volume_forward(x.g({N, P, E}), y.g({N, E, P, 1, 1}));
  same("tokens_to_volume_forward " + s, y, 0);
  PF dy(rnd(N * P * E)), dx(rnd(N * P * E));  // dx starts non-zero: the backward adds
  cpu::tokens_to_volume_backward(dy.c({N, E, P, 1, 1}), dx.c({N, P, E}));
  cuda::tokens_to_volume_backward(dy.g({N, E, P, 1, 1}), dx.g({N, P, E}));
  same("tokens_to_volume_backward " + s, dx, 0);
}

EMU_FAMILY(sequence) {
  run("concat", [] {
    concat(2, 3, 4, {5, 3});
    concat(3, 1, 1, {});
    concat(2, 0, 4, {2, 3});  // empty a (null data)
    concat(2, 4, 0, {2, 3});  // empty b
    concat(0, 2, 3, {2, 2});  // no samples
    concat(2, 3, 2, {70, 40});  // > 4096 values per side: grid-stride with EMU_SMALL
  });
  run("embed_add", [] {
    embed(37, 45, 11, 3, false);
    embed(300, 5, 1, 1, false);   // 1-row tables: one run of 300 tokens
    embed(70, 32, 600, 2, true);  // 600 rows (10 sort bits), every token on row 0
    embed(1, 70, 3, 2, false);
    embed(0, 16, 4, 2, false);    // no tokens
  });
  run("tokens_to_volume", [] {
    tokens_to_volume(2, 30, 37);
    tokens_to_volume(1, 1, 5);
    tokens_to_volume(3, 64, 70);  // > 4096 values: grid-stride with EMU_SMALL
    tokens_to_volume(0, 8, 4);    // no samples
  });
  run("gather_rows", [] {
    gather(10, 40, {33}, 0);
    gather(1, 25, {3, 5}, 0);     // 1-row source: every token on row 0
    gather(50, 90, {64}, 1);
    gather(20, 200, {7}, 2);      // long runs (> 4: the unrolled adds)
    gather(9, 0, {4}, 0);         // no tokens
    gather(2000, 3000, {2}, 0);   // 3000 tokens: several run blocks, 11 sort bits
  });
}
