// cuda::patch_embed_* / patchify_* / patch_embed_rows_* vs the CPU.
#include "harness.h"
#include "native/ops/patch_embed.h"

using namespace emu_test;

static void volume() {
  const int64_t N = 2, C = 2, H = 9, W = 8, D = 7, p = 3, E = 10;  // remainders in H, W, D
  const int64_t P = (H / p) * (W / p) * (D / p), K = C * p * p * p;
  PF x(rnd(N * C * H * W * D)), w(rnd(E * K)), b(rnd(E)), sw(rnd(N * E)), sb(rnd(N * E));
  for (int variant = 0; variant < 4; ++variant) {
    // 0: plain conv; 1: b only; 2: b, sw, sb; 3: sw only
    const bool hb = variant == 1 || variant == 2, hs = variant >= 2, hsb = variant == 2;
    Tensor cb = hb ? b.c({E}) : Tensor(), csw = hs ? sw.c({N, E}) : Tensor(), csb = hsb ? sb.c({N, E}) : Tensor();
    Tensor gb = hb ? b.g({E}) : Tensor(), gsw = hs ? sw.g({N, E}) : Tensor(), gsb = hsb ? sb.g({N, E}) : Tensor();
    PF y(nans(N * P * E));
    cpu::patch_embed_forward(x.c({N, C, H, W, D}), w.c({E, C, p, p, p}), cb, csw, csb, y.c({N, P, E}), p);
    cuda::patch_embed_forward(x.g({N, C, H, W, D}), w.g({E, C, p, p, p}), gb, gsw, gsb, y.g({N, P, E}), p);
    same(fmt("patch_embed_forward v%d", variant), y);
    PF dy(rnd(N * P * E)), dx(rnd(N * C * H * W * D)), dw(rnd(E * K)), db(rnd(E)), dsw(rnd(N * E)), dsb(rnd(N * E));
    cpu::patch_embed_backward(x.c({N, C, H, W, D}), w.c({E, C, p, p, p}), cb, csw, csb, dy.c({N, P, E}), dx.c({N, C, H, W, D}),
                              dw.c({E, C, p, p, p}), db.c({E}), dsw.c({N, E}), dsb.c({N, E}), p);
    cuda::patch_embed_backward(x.g({N, C, H, W, D}), w.g({E, C, p, p, p}), gb, gsw, gsb, dy.g({N, P, E}), dx.g({N, C, H, W, D}),
                               dw.g({E, C, p, p, p}), db.g({E}), dsw.g({N, E}), dsb.g({N, E}), p);
    same(fmt("patch_embed_backward v%d dx", variant), dx);
    same(fmt("patch_embed_backward v%d dw", variant), dw);
    same(fmt("patch_embed_backward v%d db", variant), db);
    same(fmt("patch_embed_backward v%d dsw", variant), dsw);
    same(fmt("patch_embed_backward v%d dsb", variant), dsb);
  }
  {  // only some gradients wanted: dx and db (no patches extracted, no tokens)
    PF dy(rnd(N * P * E)), dx(rnd(N * C * H * W * D)), db(rnd(E));
    cpu::patch_embed_backward(x.c({N, C, H, W, D}), w.c({E, C, p, p, p}), b.c({E}), sw.c({N, E}), sb.c({N, E}), dy.c({N, P, E}),
                              dx.c({N, C, H, W, D}), Tensor(), db.c({E}), Tensor(), Tensor(), p);
    cuda::patch_embed_backward(x.g({N, C, H, W, D}), w.g({E, C, p, p, p}), b.g({E}), sw.g({N, E}), sb.g({N, E}), dy.g({N, P, E}),
                               dx.g({N, C, H, W, D}), Tensor(), db.g({E}), Tensor(), Tensor(), p);
    same("patch_embed_backward dx+db only: dx", dx);
    same("patch_embed_backward dx+db only: db", db);
  }
  PF pt(nans(N * P * K));
  cpu::patchify_forward(x.c({N, C, H, W, D}), pt.c({N, P, K}), p);
  cuda::patchify_forward(x.g({N, C, H, W, D}), pt.g({N, P, K}), p);
  same("patchify_forward", pt, 0);
  PF g(rnd(N * P * K)), dx(rnd(N * C * H * W * D));
  cpu::patchify_backward(g.c({N, P, K}), dx.c({N, C, H, W, D}), p);
  cuda::patchify_backward(g.g({N, P, K}), dx.g({N, C, H, W, D}), p);
  same("patchify_backward", dx, 0);
}

static void rows(const I& off) {
  const int64_t E = 12, K = 20;
  const int64_t S = int64_t(off.size()) - 1, Tn = off.back();
  PF pt(rnd(Tn * K)), w(rnd(E * K)), b(rnd(E)), sw(rnd(S * E)), sb(rnd(S * E));
  PI offs(off);
  for (int variant = 0; variant < 4; ++variant) {
      // With no rows an empty z has null data, i.e. reads as absent, and dsw needs z: only the
      // variant without z applies.
      if (Tn == 0 && variant != 1) continue;
      Tensor goff = offs.g({S + 1});
      const bool hb = variant >= 1, hs = variant >= 2, hz = variant != 1;
      Tensor cb = hb ? b.c({E}) : Tensor(), csw = hs ? sw.c({S, E}) : Tensor(), csb = variant == 2 ? sb.c({S, E}) : Tensor();
      Tensor gb = hb ? b.g({E}) : Tensor(), gsw = hs ? sw.g({S, E}) : Tensor(), gsb = variant == 2 ? sb.g({S, E}) : Tensor();
      PF y(nans(Tn * E)), z(nans(Tn * E));
      cpu::patch_embed_rows_forward(pt.c({Tn, K}), offs.c({S + 1}), w.c({E, K}), cb, csw, csb, hz ? z.c({Tn, E}) : Tensor(), y.c({Tn, E}));
      cuda::patch_embed_rows_forward(pt.g({Tn, K}), goff, w.g({E, K}), gb, gsw, gsb, hz ? z.g({Tn, E}) : Tensor(), y.g({Tn, E}));
      const std::string v = fmt("T=%ld v%d", long(Tn), variant);
      same("patch_embed_rows_forward " + v + " y", y);
      same("patch_embed_rows_forward " + v + " z", z);
      PF dy(rnd(Tn * E)), dp(rnd(Tn * K)), dw(rnd(E * K)), db(rnd(E)), dsw(rnd(S * E)), dsb(rnd(S * E));
      cpu::patch_embed_rows_backward(pt.c({Tn, K}), offs.c({S + 1}), w.c({E, K}), cb, csw, csb, hz ? z.c({Tn, E}) : Tensor(), dy.c({Tn, E}),
                                     dp.c({Tn, K}), dw.c({E, K}), db.c({E}), hz ? dsw.c({S, E}) : Tensor(), dsb.c({S, E}));
      cuda::patch_embed_rows_backward(pt.g({Tn, K}), goff, w.g({E, K}), gb, gsw, gsb, hz ? z.g({Tn, E}) : Tensor(), dy.g({Tn, E}),
                                      dp.g({Tn, K}), dw.g({E, K}), db.g({E}), hz ? dsw.g({S, E}) : Tensor(), dsb.g({S, E}));
      same("patch_embed_rows_backward " + v + " dpatches", dp);
      same("patch_embed_rows_backward " + v + " dw", dw);
      same("patch_embed_rows_backward " + v + " db", db);
      same("patch_embed_rows_backward " + v + " dsw", dsw);
      same("patch_embed_rows_backward " + v + " dsb", dsb);
    }
}

EMU_FAMILY(patch_embed) {
  run("patch_embed volume", volume);
  run("patch_embed rows", [] { rows({0, 5, 5, 140, 141, 300}); });  // an empty segment
  run("patch_embed rows, no rows", [] { rows({0, 0, 0}); });
}
