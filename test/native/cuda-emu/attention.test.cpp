// cuda::attention_* vs the CPU: packed variable-length segments with empty ones (first, middle,
// last), segments shorter than, equal to and longer than a tile, head dims 8, 24, 32, 64 (and 100:
// the 128-wide tiles), more than 1024 segments (the segment-table scan carried across chunks),
// T = 0. The backward runs from the CPU's out and lse, so it is checked on its own.
#include "harness.h"
#include "native/ops/attention.h"

using namespace emu_test;

static void attn(const I& offsets, int heads, int d) {
  const int64_t T = offsets.back(), E = int64_t(heads) * d, nseg = int64_t(offsets.size()) - 1;
  const std::string s = fmt("attention T=%ld nseg=%ld heads=%d d=%d", long(T), long(nseg), heads, d);
  PF qkv(rnd(T * 3 * E, -1.5f, 1.5f)), out(nans(T * E)), lse(nans(heads * T));
  PI off(offsets);
  cpu::attention_forward(qkv.c({T, 3 * E}), off.c({nseg + 1}), out.c({T, E}), lse.c({int64_t(heads), T}), heads);
  cuda::attention_forward(qkv.g({T, 3 * E}), off.g({nseg + 1}), out.g({T, E}), lse.g({int64_t(heads), T}), heads);
  same("attention_forward out " + s, out, 1e-4, 1e-2);
  same("attention_forward lse " + s, lse, 1e-5);
  PF o(out.h), l(lse.h), dout(rnd(T * E)), dqkv(rnd(T * 3 * E));
  cpu::attention_backward(qkv.c({T, 3 * E}), off.c({nseg + 1}), o.c({T, E}), l.c({int64_t(heads), T}), dout.c({T, E}),
                          dqkv.c({T, 3 * E}), heads);
  cuda::attention_backward(qkv.g({T, 3 * E}), off.g({nseg + 1}), o.g({T, E}), l.g({int64_t(heads), T}), dout.g({T, E}),
                           dqkv.g({T, 3 * E}), heads);
  same("attention_backward dqkv " + s, dqkv, 1e-4, 1e-2);
}

EMU_FAMILY(attention) {
  // Empty first, middle and last segments; lengths 1, 31, 32, 33, 70 (tiles of 32 rows, 16 at d > 64).
  const I mixed = {0, 0, 1, 32, 32, 64, 97, 167, 198, 198};
  for (int d : {8, 24, 32, 64}) run(fmt("attention d=%d", d), [&] { attn(mixed, 2, d); });
  run("attention d=100", [] { attn({0, 17, 17, 50}, 2, 100); });
  run("attention one segment, 3 heads", [] { attn({0, 45}, 3, 16); });
  run("attention 1100 segments", [] {
    // 1100 segments, mostly empty, a few of 1..40 tokens spread over the three scan chunks.
    I off(1101, 0);
    int t = 0;
    for (int s = 0; s < 1100; ++s) {
      if (s % 97 == 5) t += 1 + s % 40;
      off[size_t(s + 1)] = t;
    }
    attn(off, 1, 8);
  });
  run("attention T=0", [] { attn({0, 0, 0}, 2, 8); });
}
