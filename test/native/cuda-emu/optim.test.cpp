// cuda:: AdamW, grad_norm_sq, scale_inplace and clip_grad_norm vs the CPU. The multi-tensor forms
// pack up to 48 tensors per launch and find a block's tensor by scanning the table: lists of more
// than 48 (and 96) tensors, empty tensors anywhere (also right at the table boundary), sizes
// around the 4096-element chunk, decay on and off. clip_grad_norm: no scaling, scaling, a NaN or
// an Inf gradient (norm returned, gradients untouched), an empty list.
#include "harness.h"
#include "native/ops/optim.h"

using namespace emu_test;

namespace {
const int64_t kSizes[] = {0, 1, 5, 300, 4095, 4096, 4097, 9000};

// A list of tensors on both backends.
struct List {
  std::vector<std::unique_ptr<PF>> t;
  std::vector<int64_t> n;
  void add(int64_t size, float scale = 1) {
    n.push_back(size);
    t.emplace_back(new PF(rnd(size, -scale, scale)));
  }
  std::vector<Tensor> cpu() {
    std::vector<Tensor> v;
    for (size_t i = 0; i < t.size(); ++i) v.push_back(t[i]->c({n[i]}));
    return v;
  }
  std::vector<Tensor> cuda() const {
    std::vector<Tensor> v;
    for (size_t i = 0; i < t.size(); ++i) v.push_back(t[i]->g({n[i]}));
    return v;
  }
  void same_all(const std::string& what, double tol, double floor = 1e-3) {
    F got, want;
    for (auto& p : t) {
      F g = p->d.get();
      got.insert(got.end(), g.begin(), g.end());
      want.insert(want.end(), p->h.begin(), p->h.end());
    }
    cmp(what, got, want, tol, floor);
  }
};

// Sizes for a list of `count` tensors: the kSizes cycle, with empty tensors at 47 and 48.
int64_t size_at(int i) { return i == 47 || i == 48 ? 0 : kSizes[(i * 5 + 3) % 8]; }
}  // namespace

static void adamw_multi(int count, int64_t step) {
  const std::string s = fmt("adamw_step_multi %d tensors step %ld", count, long(step));
  List p, g, m, v;
  for (int i = 0; i < count; ++i) {
    const int64_t n = size_at(i);
    p.add(n);
    g.add(n, 0.1f);
    m.add(n, 0.01f);
    v.add(n, 0);  // v ≥ 0: its square root is taken
    for (auto& x : v.t.back()->h) x = x * x;
  }
  for (auto& q : v.t) q.reset(new PF(q->h));  // re-upload the squared v
  std::vector<AdamWSlot> cs, gs;
  for (int i = 0; i < count; ++i) {
    const bool decay = i % 3 != 1;
    const int64_t n = size_at(i);
    cs.push_back({p.t[i]->c({n}), g.t[i]->c({n}), m.t[i]->c({n}), v.t[i]->c({n}), decay});
    gs.push_back({p.t[i]->g({n}), g.t[i]->g({n}), m.t[i]->g({n}), v.t[i]->g({n}), decay});
  }
  cpu::adamw_step_multi(cs, 1e-3, 0.9, 0.95, 1e-8, 0.05, step);
  cuda::adamw_step_multi(gs, 1e-3, 0.9, 0.95, 1e-8, 0.05, step);
  // A large update landing near zero cancels: measured against the O(1) parameter scale.
  p.same_all(s + " param", 1e-6, 0.1);
  m.same_all(s + " m", 1e-6);
  v.same_all(s + " v", 1e-6);
  g.same_all(s + " grad unchanged", 0);
}

static void adamw_single(int64_t n, int64_t step) {
  const std::string s = fmt("adamw_step n=%ld step %ld", long(n), long(step));
  F v0 = rnd(n, 0, 0.01f);
  PF p(rnd(n)), g(rnd(n, -0.1f, 0.1f)), m(rnd(n, -0.01f, 0.01f)), v(v0);
  cpu::adamw_step(p.c({n}), g.c({n}), m.c({n}), v.c({n}), 3e-4, 0.9, 0.999, 1e-8, 0.1, step);
  cuda::adamw_step(p.g({n}), g.g({n}), m.g({n}), v.g({n}), 3e-4, 0.9, 0.999, 1e-8, 0.1, step);
  same(s + " param", p, 1e-6, 0.1);
  same(s + " m", m, 1e-6);
  same(s + " v", v, 1e-6);
}

static void norms(int64_t n) {
  PF x(rnd(n)), out(nans(1));
  cpu::grad_norm_sq(x.c({n}), out.c({1}));
  cuda::grad_norm_sq(x.g({n}), out.g({1}));
  same(fmt("grad_norm_sq n=%ld", long(n)), out, 1e-6);
  cpu::scale_inplace(x.c({n}), -0.37f);
  cuda::scale_inplace(x.g({n}), -0.37f);
  same(fmt("scale_inplace n=%ld", long(n)), x, 0);
}

// kind 0: plain; 1: a NaN in tensor 50; 2: +Inf in tensor 3; 3: an empty list; 4: only empty tensors.
static void clip(int count, float max_norm, int kind) {
  List g;
  if (kind == 4)
    for (int i = 0; i < count; ++i) g.add(0);
  else if (kind != 3)
    for (int i = 0; i < count; ++i) g.add(size_at(i));
  if (kind == 1) g.t[50]->h[0] = NAN;
  if (kind == 2) g.t[3]->h[0] = INFINITY;
  if (kind == 1 || kind == 2)
    for (auto& q : g.t) q.reset(new PF(q->h));
  const std::string s = fmt("clip_grad_norm %zu tensors max_norm %g kind %d", g.t.size(), max_norm, kind);
  const double nc = cpu::clip_grad_norm(g.cpu(), max_norm);
  const double ng = cuda::clip_grad_norm(g.cuda(), max_norm);
  const bool same_norm = (std::isnan(nc) && std::isnan(ng)) || nc == ng || std::fabs(nc - ng) <= 1e-12 * std::fabs(nc);
  expect(s + " returned norm", same_norm, fmt("%.17g vs %.17g", ng, nc));
  g.same_all(s + " gradients", 1e-6);
}

EMU_FAMILY(optim) {
  run("adamw_step", [] {
    for (int64_t n : {0, 1, 4095, 4096, 4097, 10000}) adamw_single(n, 1);
    adamw_single(300, 10);
  });
  run("adamw_step_multi", [] {
    adamw_multi(0, 1);
    adamw_multi(5, 1);
    adamw_multi(48, 2);   // exactly one table
    adamw_multi(49, 3);   // one entry into the second table
    adamw_multi(100, 7);  // three tables
  });
  run("grad_norm_sq / scale_inplace", [] {
    for (int64_t n : {0, 1, 4095, 4096, 4097, 20000}) norms(n);
  });
  run("clip_grad_norm", [] {
    clip(60, 1e6f, 0);   // no scaling
    clip(60, 0.5f, 0);   // scaling across two tables
    clip(100, 0.5f, 0);  // three tables
    clip(60, 0.5f, 1);   // NaN: returned, untouched
    clip(60, 0.5f, 2);   // Inf: returned, untouched
    clip(0, 0.5f, 3);    // no tensors
    clip(50, 0.5f, 4);   // only empty tensors
  });
}
