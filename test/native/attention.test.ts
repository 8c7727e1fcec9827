import test from 'ava';
import { ops } from '../../lib/index.js';
import { runOp } from '../../lib/native.js';
import { type Tensor, indices } from '../../lib/tensor.js';
import { assertClose, gradcheck } from '../helpers/check.js';
import { randn } from '../helpers/random.js';

// Offsets from segment lengths.
const packed = (lens: number[]) => indices(lens.reduce((o, l) => [...o, o[o.length - 1] + l], [0]));
const total = (lens: number[]) => lens.reduce((a, b) => a + b, 0);

// Float64 references from the definition: token i attends to every token j of the packed batch
// whose segment is its own (the others are masked out), per head, with scores q_i·k_j/sqrt(d)
// read from the q/k/v thirds of qkv.
function layout(qkv: Tensor, lens: number[], heads: number) {
  const T = qkv.shape[0];
  const E = qkv.shape[1] / 3;
  const d = E / heads;
  const segOf = lens.flatMap((l, s) => Array<number>(l).fill(s));
  const at = (i: number, part: number, h: number, c: number) => qkv.data[i * 3 * E + part * E + h * d + c];
  return { T, E, d, scale: 1 / Math.sqrt(d), segOf, at };
}

// Softmax probabilities of query i in head h over all T tokens (0 outside i's segment).
function probs(L: ReturnType<typeof layout>, i: number, h: number) {
  const s = new Float64Array(L.T).fill(-Infinity);
  for (let j = 0; j < L.T; j++) {
    if (L.segOf[j] !== L.segOf[i]) continue;
    let dot = 0;
    for (let c = 0; c < L.d; c++) dot += L.at(i, 0, h, c) * L.at(j, 1, h, c);
    s[j] = dot * L.scale;
  }
  const m = Math.max(...s);
  const z = s.reduce((a, v) => a + Math.exp(v - m), 0);
  return { p: s.map((v) => Math.exp(v - m) / z), lse: m + Math.log(z) };
}

function refForward(qkv: Tensor, lens: number[], heads: number) {
  const L = layout(qkv, lens, heads);
  const out = new Float64Array(L.T * L.E);
  const lse = new Float64Array(heads * L.T);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < L.T; i++) {
      const r = probs(L, i, h);
      lse[h * L.T + i] = r.lse;
      for (let j = 0; j < L.T; j++) {
        if (r.p[j] === 0) continue;
        for (let c = 0; c < L.d; c++) out[i * L.E + h * L.d + c] += r.p[j] * L.at(j, 2, h, c);
      }
    }
  }
  return { out, lse };
}

// The chain rule through out_i = Σ_j p_ij v_j and the softmax Jacobian
// ∂p_ij/∂s_ik = p_ij (δ_jk − p_ik).
function refBackward(qkv: Tensor, lens: number[], heads: number, dout: Tensor) {
  const L = layout(qkv, lens, heads);
  const g = new Float64Array(L.T * 3 * L.E);
  const add = (i: number, part: number, h: number, c: number, v: number) => {
    g[i * 3 * L.E + part * L.E + h * L.d + c] += v;
  };
  const dO = (i: number, h: number, c: number) => dout.data[i * L.E + h * L.d + c];
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < L.T; i++) {
      const { p } = probs(L, i, h);
      const dp = new Float64Array(L.T);
      for (let j = 0; j < L.T; j++) {
        if (p[j] === 0) continue;
        for (let c = 0; c < L.d; c++) {
          dp[j] += dO(i, h, c) * L.at(j, 2, h, c);
          add(j, 2, h, c, p[j] * dO(i, h, c));
        }
      }
      const pdp = p.reduce((a, v, j) => a + v * dp[j], 0);
      for (let j = 0; j < L.T; j++) {
        if (p[j] === 0) continue;
        const ds = p[j] * (dp[j] - pdp) * L.scale;
        for (let c = 0; c < L.d; c++) {
          add(i, 0, h, c, ds * L.at(j, 1, h, c));
          add(j, 1, h, c, ds * L.at(i, 0, h, c));
        }
      }
    }
  }
  return g;
}

// [lengths, E, heads]: empty and one-token segments, E not a multiple of 16, a single segment,
// and segments longer than the kernel's 64-row query tile.
const cases: [number[], number, number][] = [
  [[1, 5, 17, 0, 40], 36, 4],
  [[1, 5, 17, 0, 40], 36, 3],
  [[23], 36, 1],
  [[3, 150, 0, 7], 12, 2],
  [[0, 0], 6, 2],
];

test('forward matches masked softmax attention', async (t) => {
  for (const [lens, E, heads] of cases) {
    const qkv = randn([total(lens), 3 * E], lens.length + E + heads);
    const f = await ops.attentionForward(qkv, packed(lens), heads);
    const r = refForward(qkv, lens, heads);
    t.deepEqual([f.out.shape, f.lse.shape], [[total(lens), E], [heads, total(lens)]]);
    const label = `lens ${lens}, E ${E}, heads ${heads}`;
    assertClose(t, f.out.data, r.out, { rtol: 1e-4, atol: 1e-5 }, `out (${label})`);
    assertClose(t, f.lse.data, r.lse, { rtol: 1e-5, atol: 1e-5 }, `lse (${label})`);
  }
});

test('backward matches the chain rule through the softmax', async (t) => {
  for (const [lens, E, heads] of cases) {
    const qkv = randn([total(lens), 3 * E], 100 + lens.length + E + heads);
    const offsets = packed(lens);
    const dout = randn([total(lens), E], 200 + heads);
    const f = await ops.attentionForward(qkv, offsets, heads);
    const dqkv = await ops.attentionBackward(qkv, offsets, f.out, f.lse, dout, heads);
    t.deepEqual(dqkv.shape, qkv.shape);
    assertClose(t, dqkv.data, refBackward(qkv, lens, heads, dout), { rtol: 1e-4, atol: 1e-5 }, `dqkv (lens ${lens})`);
  }
});

for (const [lens, E, heads] of [cases[0], cases[3]]) {
  test(`backward passes a finite-difference check (lens ${lens}, E ${E}, heads ${heads})`, async (t) => {
    const offsets = packed(lens);
    await gradcheck(t, {
      inputs: { qkv: randn([total(lens), 3 * E], 300 + E) },
      wrt: ['qkv'],
      forward: async (i) => [(await ops.attentionForward(i.qkv, offsets, heads)).out],
      backward: async (i, [dout]) => {
        const f = await ops.attentionForward(i.qkv, offsets, heads);
        return { qkv: await ops.attentionBackward(i.qkv, offsets, f.out, f.lse, dout, heads) };
      },
      samples: 48,
    });
  });
}

test('no token sees another segment', async (t) => {
  const lens = [1, 5, 17, 0, 40];
  const [E, heads] = [36, 4];
  const T = total(lens);
  const offsets = packed(lens);
  const [a, b] = [6, 23]; // segment 2
  const qkv = randn([T, 3 * E], 400);
  const dout = randn([T, E], 401);
  const changed = { data: new Float32Array(qkv.data), shape: qkv.shape };
  const dchanged = { data: new Float32Array(dout.data), shape: dout.shape };
  for (let i = a * 3 * E; i < b * 3 * E; i++) changed.data[i] += 1;
  for (let i = a * E; i < b * E; i++) dchanged.data[i] -= 1;

  const f0 = await ops.attentionForward(qkv, offsets, heads);
  const f1 = await ops.attentionForward(changed, offsets, heads);
  const g0 = await ops.attentionBackward(qkv, offsets, f0.out, f0.lse, dout, heads);
  const g1 = await ops.attentionBackward(changed, offsets, f1.out, f1.lse, dchanged, heads);
  const rows = (x: Tensor, r0: number, r1: number) => Array.from(x.data.subarray(r0 * x.shape[1], r1 * x.shape[1]));
  const lseRows = (x: Tensor, r0: number, r1: number) =>
    Array.from({ length: heads }, (_, h) => Array.from(x.data.subarray(h * T + r0, h * T + r1)));
  for (const [r0, r1] of [
    [0, a],
    [b, T],
  ]) {
    t.deepEqual(rows(f1.out, r0, r1), rows(f0.out, r0, r1));
    t.deepEqual(lseRows(f1.lse, r0, r1), lseRows(f0.lse, r0, r1));
    t.deepEqual(rows(g1, r0, r1), rows(g0, r0, r1));
  }
  t.notDeepEqual(rows(f1.out, a, b), rows(f0.out, a, b));
  t.notDeepEqual(rows(g1, a, b), rows(g0, a, b));
});

test('a larger batch (T = 650, E = 96, 4 heads) matches the reference', async (t) => {
  const lens = [150, 210, 90, 200];
  const [E, heads] = [96, 4];
  const qkv = randn([total(lens), 3 * E], 500, 0.5);
  const dout = randn([total(lens), E], 501);
  const offsets = packed(lens);
  const f = await ops.attentionForward(qkv, offsets, heads);
  const dqkv = await ops.attentionBackward(qkv, offsets, f.out, f.lse, dout, heads);
  const r = refForward(qkv, lens, heads);
  const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const g = refBackward(qkv, lens, heads, dout);
  // Relative to each tensor's scale: float32 sums over up to 210 keys.
  assertClose(t, f.out.data, r.out, { rtol: 1e-4, atol: 1e-5 * maxAbs(r.out) }, 'out');
  assertClose(t, f.lse.data, r.lse, { rtol: 1e-5, atol: 1e-5 }, 'lse');
  assertClose(t, dqkv.data, g, { rtol: 1e-4, atol: 1e-5 * maxAbs(g) }, 'dqkv');
});

test('attention ops reject bad shapes, heads and offsets with typed errors', (t) => {
  const qkv = randn([10, 36], 600);
  const offsets = indices([0, 4, 10]);
  const fwd = (inputs: Record<string, unknown>, attrs: Record<string, unknown> = { heads: 3 }) =>
    runOp('attention_forward', { qkv, offsets, ...inputs } as never, attrs as never);
  const range = (fn: () => unknown, message: RegExp) => t.throws(fn, { instanceOf: RangeError, message });
  const type = (fn: () => unknown, message: RegExp) => t.throws(fn, { instanceOf: TypeError, message });

  range(() => fwd({ qkv: randn([10, 35], 1) }), /inputs\.qkv must be \[T, 3E\]/);
  range(() => fwd({ qkv: randn([10, 0], 1) }), /inputs\.qkv must be \[T, 3E\]/);
  range(() => fwd({ qkv: randn([360], 1) }), /inputs\.qkv must have 2 dimensions/);
  range(() => fwd({}, { heads: 5 }), /attrs\.heads must be a positive divisor of E = 12, got 5/);
  range(() => fwd({}, { heads: 0 }), /attrs\.heads must be a positive divisor/);
  type(() => fwd({}, { heads: 1.5 }), /attrs\.heads must be an integer/);
  type(() => fwd({}, {}), /attrs\.heads is required/);

  type(() => fwd({ offsets: randn([3], 1) }), /inputs\.offsets must be int32/);
  type(() => fwd({ offsets: undefined }), /inputs\.offsets is required/);
  range(() => fwd({ offsets: indices([0, 4, 10], [1, 3]) }), /inputs\.offsets must have 1 dimensions/);
  range(() => fwd({ offsets: indices([0]) }), /inputs\.offsets must hold nseg \+ 1 >= 2 values/);
  range(() => fwd({ offsets: indices([1, 4, 10]) }), /inputs\.offsets\[0\] = 1 must be 0/);
  range(() => fwd({ offsets: indices([0, 6, 4, 10]) }), /inputs\.offsets\[2\] = 4 must be at least inputs\.offsets\[1\] = 6/);
  range(() => fwd({ offsets: indices([0, -1, 10]) }), /inputs\.offsets\[1\] = -1 must be at least/);
  range(() => fwd({ offsets: indices([0, 4, 9]) }), /inputs\.offsets\[2\] = 9 must be 10 \(the rows of inputs\.qkv\)/);
  range(() => fwd({ offsets: indices([0, 4, 11]) }), /inputs\.offsets\[2\] = 11 must be 10/);

  const out = randn([10, 12], 2);
  const lse = randn([3, 10], 3);
  const bwd = (inputs: Record<string, unknown>) =>
    runOp('attention_backward', { qkv, offsets, out, lse, dout: out, ...inputs } as never, { heads: 3 });
  range(() => bwd({ out: randn([10, 13], 4) }), /inputs\.out\.shape\[1\] must be 12/);
  range(() => bwd({ lse: randn([4, 10], 5) }), /inputs\.lse\.shape\[0\] must be 3 \(attrs\.heads\)/);
  range(() => bwd({ lse: randn([3, 9], 6) }), /inputs\.lse\.shape\[1\] must be 10/);
  range(() => bwd({ dout: randn([9, 12], 7) }), /inputs\.dout must have shape \[10,12\]/);
  range(() => bwd({ offsets: indices([0, 11, 10]) }), /inputs\.offsets\[2\] = 10 must be at least inputs\.offsets\[1\] = 11/);
  type(() => bwd({ lse: undefined }), /inputs\.lse is required/);
});
