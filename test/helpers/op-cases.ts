// Random inputs for every registered op, by op name: the cases the CUDA parity tests
// (test/cuda/parity.ts) run on both devices, and test/native/op-cases.test.ts runs on the CPU so
// that a stale case fails in CI, where no GPU is. Backward cases take their saved tensors (mean,
// rstd, lse, argmax, z…) from the CPU forward, so each op is checked on its own.
//
// Shapes are odd on purpose (no dimension a multiple of a warp or a tile), segments include empty
// ones, some gradients are switched off (the kernel must then skip them, data == nullptr), and
// where the CPU accepts a size-0 tensor a case checks that nothing is launched for it.
import { addon, type OpAttrs, type OpInput } from '../../lib/native.js';
import { type IndexTensor, type Tensor, indices } from '../../lib/tensor.js';
import { randn, randu, rng } from './random.js';

export interface OpCase {
  /** A short description: the shapes and what the case is about. */
  label: string;
  inputs: Record<string, OpInput>;
  attrs?: OpAttrs;
  /** Inputs the op updates in place (adamw_step, scale_inplace): compared instead of outputs. */
  inplace?: string[];
}

export interface OpSpec {
  /** Contracts through the GEMM (cuda::sgemm), so its result depends on the math mode (f32/bf16). */
  gemm?: boolean;
  cases(seed: number): Promise<OpCase[]>;
}

/** The CPU op (no device option), as the references are computed. */
export function cpuOp(name: string, inputs: Record<string, OpInput>, attrs: OpAttrs = {}): Promise<Record<string, OpInput>> {
  return addon.op(name, inputs, attrs);
}

const f = (o: Record<string, OpInput>, k: string) => o[k] as Tensor;
const ix = (o: Record<string, OpInput>, k: string) => o[k] as IndexTensor;
const ints = (n: number, hi: number, seed: number) => {
  const r = rng(seed);
  return indices(Int32Array.from({ length: n }, () => Math.floor(r() * hi)));
};
const offsetsOf = (lens: number[]) => indices(lens.reduce((o, l) => [...o, o[o.length - 1] + l], [0]));
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);

// ---- activation -------------------------------------------------------------------------------

const elementwiseShapes: [string, number[]][] = [
  ['odd [37, 53]', [37, 53]],
  ['large [3, 100003] (several grid-stride rounds)', [3, 100003]],
  ['empty [0, 7]', [0, 7]],
];

const gelu_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => elementwiseShapes.map(([label, shape], i) => ({ label, inputs: { x: randn(shape, s + i, 2) } })),
};
const gelu_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> =>
    elementwiseShapes.map(([label, shape], i) => ({ label, inputs: { x: randn(shape, s + i, 2), dy: randn(shape, s + 10 + i) } })),
};
const leaky_relu_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[5, 7, 11] default slope', inputs: { x: randn([5, 7, 11], s) } },
    { label: '[3, 100003] slope 0.2', inputs: { x: randn([3, 100003], s + 1) }, attrs: { slope: 0.2 } },
  ],
};
const leaky_relu_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const x = randn([3, 100003], s);
    const y = f(await cpuOp('leaky_relu_forward', { x }, { slope: 0.2 }), 'y');
    return [
      { label: '[3, 100003] slope 0.2, y from the forward', inputs: { y, dy: randn(x.shape, s + 1) }, attrs: { slope: 0.2 } },
      { label: 'odd [37, 53] default slope', inputs: { y: randn([37, 53], s + 2), dy: randn([37, 53], s + 3) } },
    ];
  },
};
const add_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: 'odd [301, 97]', inputs: { a: randn([301, 97], s), b: randn([301, 97], s + 1) } },
    { label: 'empty [0, 5]', inputs: { a: randn([0, 5], s), b: randn([0, 5], s + 1) } },
  ],
};

// ---- attention --------------------------------------------------------------------------------

// [segment lengths, E, heads]: head sizes 24 (demo), 12 (tiny, odd segments), 64 and 32 (paper
// encoder and decoder) at paper-like sequence lengths, empty segments in the middle and at the ends.
const attentionShapes: [string, number[], number, number][] = [
  ['d 24, segments 150/210/0/90/200 (one empty)', [150, 210, 0, 90, 200], 96, 4],
  ['d 12, odd segments 1/37/0/5, trailing empty', [1, 37, 0, 5, 0], 36, 3],
  ['d 64 (paper encoder), segments 0/195/64', [0, 195, 64], 768, 12],
  ['d 32 (paper decoder), one 648-token segment', [648], 384, 12],
];

const attention_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> =>
    attentionShapes.map(([label, lens, E, heads], i) => ({
      label,
      inputs: { qkv: randn([sum(lens), 3 * E], s + i), offsets: offsetsOf(lens) },
      attrs: { heads },
    })),
};
const attention_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, lens, E, heads]] of attentionShapes.entries()) {
      const qkv = randn([sum(lens), 3 * E], s + i);
      const offsets = offsetsOf(lens);
      const fwd = await cpuOp('attention_forward', { qkv, offsets }, { heads });
      out.push({
        label,
        inputs: { qkv, offsets, out: f(fwd, 'out'), lse: f(fwd, 'lse'), dout: randn([sum(lens), E], s + 20 + i) },
        attrs: { heads },
      });
    }
    return out;
  },
};

// ---- conv -------------------------------------------------------------------------------------

const conv3d_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: 'k3, [2, 3, 7, 9, 5] → 4, bias', inputs: { x: randn([2, 3, 7, 9, 5], s), w: randn([4, 3, 3, 3, 3], s + 1), b: randn([4], s + 2) } },
    { label: 'k1, [2, 5, 6, 3, 7] → 3, no bias', inputs: { x: randn([2, 5, 6, 3, 7], s + 3), w: randn([3, 5, 1, 1, 1], s + 4) } },
    { label: 'k3, [1, 16, 12, 12, 12] → 16', inputs: { x: randn([1, 16, 12, 12, 12], s + 5), w: randn([16, 16, 3, 3, 3], s + 6, 0.2), b: randn([16], s + 7) } },
  ],
};
const conv3d_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: 'k3, [2, 3, 7, 9, 5] → 4, all grads', inputs: { x: randn([2, 3, 7, 9, 5], s), w: randn([4, 3, 3, 3, 3], s + 1), dy: randn([2, 4, 7, 9, 5], s + 2) } },
    { label: 'k1, [2, 5, 6, 3, 7] → 3, dx off', inputs: { x: randn([2, 5, 6, 3, 7], s + 3), w: randn([3, 5, 1, 1, 1], s + 4), dy: randn([2, 3, 6, 3, 7], s + 5) }, attrs: { dx: false } },
    { label: 'k3, [1, 16, 12, 12, 12] → 16, dw and db off', inputs: { x: randn([1, 16, 12, 12, 12], s + 6), w: randn([16, 16, 3, 3, 3], s + 7, 0.2), dy: randn([1, 16, 12, 12, 12], s + 8) }, attrs: { dw: false, db: false } },
  ],
};
const conv_transpose3d_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 4, 3, 5, 4] → 3, bias', inputs: { x: randn([2, 4, 3, 5, 4], s), w: randn([4, 3, 2, 2, 2], s + 1), b: randn([3], s + 2) } },
    { label: '[1, 16, 6, 6, 6] → 8, no bias', inputs: { x: randn([1, 16, 6, 6, 6], s + 3), w: randn([16, 8, 2, 2, 2], s + 4) } },
  ],
};
const conv_transpose3d_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 4, 3, 5, 4] → 3, all grads', inputs: { x: randn([2, 4, 3, 5, 4], s), w: randn([4, 3, 2, 2, 2], s + 1), dy: randn([2, 3, 6, 10, 8], s + 2) } },
    { label: '[1, 16, 6, 6, 6] → 8, dx only', inputs: { x: randn([1, 16, 6, 6, 6], s + 3), w: randn([16, 8, 2, 2, 2], s + 4), dy: randn([1, 8, 12, 12, 12], s + 5) }, attrs: { dw: false, db: false } },
  ],
};

// ---- layernorm --------------------------------------------------------------------------------

const layernormShapes: [string, number[]][] = [
  ['odd [37, 53]', [37, 53]],
  ['[301, 96]', [301, 96]],
  ['paper width [65, 768]', [65, 768]],
  ['one column [5, 1]', [5, 1]],
];
const layernorm_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> =>
    layernormShapes.map(([label, [T, C]], i) => ({
      label,
      inputs: { x: randn([T, C], s + i, 2), w: randn([C], s + 10 + i), b: randn([C], s + 20 + i) },
      attrs: (i === 1 ? { eps: 1e-6 } : {}) as OpAttrs,
    })),
};
const layernorm_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, [T, C]]] of layernormShapes.entries()) {
      const x = randn([T, C], s + i, 2);
      const w = randn([C], s + 10 + i);
      const fwd = await cpuOp('layernorm_forward', { x, w, b: randn([C], s + 20 + i) });
      out.push({ label, inputs: { x, w, mean: f(fwd, 'mean'), rstd: f(fwd, 'rstd'), dy: randn([T, C], s + 30 + i) } });
    }
    return out;
  },
};

// ---- linear -----------------------------------------------------------------------------------

const linear_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: 'odd [37, 53] → 29, bias', inputs: { x: randn([37, 53], s), w: randn([29, 53], s + 1), b: randn([29], s + 2) } },
    { label: 'ViT-B qkv [195, 768] → 2304, no bias', inputs: { x: randn([195, 768], s + 3), w: randn([2304, 768], s + 4, 0.05) } },
    { label: 'one row [1, 3] → 1', inputs: { x: randn([1, 3], s + 5), w: randn([1, 3], s + 6), b: randn([1], s + 7) } },
    { label: 'empty [0, 53] → 29', inputs: { x: randn([0, 53], s + 8), w: randn([29, 53], s + 9), b: randn([29], s + 10) } },
  ],
};
const linear_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => [
    { label: 'odd [37, 53] → 29, all grads', inputs: { x: randn([37, 53], s), w: randn([29, 53], s + 1), dy: randn([37, 29], s + 2) } },
    { label: 'ViT-B fc2 [195, 3072] → 768, dx off', inputs: { x: randn([195, 3072], s + 3), w: randn([768, 3072], s + 4, 0.03), dy: randn([195, 768], s + 5) }, attrs: { dx: false } },
    { label: 'odd [41, 17] → 23, dw and db off', inputs: { x: randn([41, 17], s + 6), w: randn([23, 17], s + 7), dy: randn([41, 23], s + 8) }, attrs: { dw: false, db: false } },
  ],
};
const matmulShapes: [string, number[], number[], OpAttrs][] = [
  ['[3, 37, 29] · [3, 29, 41]', [3, 37, 29], [3, 29, 41], {}],
  ['transA [3, 29, 37]ᵀ · [3, 29, 41], alpha 0.125', [3, 29, 37], [3, 29, 41], { trans_a: true, alpha: 0.125 }],
  ['[5, 33, 19] · transB [5, 47, 19]ᵀ', [5, 33, 19], [5, 47, 19], { trans_b: true }],
  ['transA transB [2, 64, 130]ᵀ · [2, 70, 64]ᵀ, alpha −0.5', [2, 64, 130], [2, 70, 64], { trans_a: true, trans_b: true, alpha: -0.5 }],
];
const matmul_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => matmulShapes.map(([label, a, b, attrs], i) => ({ label, inputs: { a: randn(a, s + i), b: randn(b, s + 10 + i) }, attrs })),
};
const matmul_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, a, b, attrs]] of matmulShapes.entries()) {
      const A = randn(a, s + i);
      const B = randn(b, s + 10 + i);
      const c = f(await cpuOp('matmul_forward', { a: A, b: B }, attrs), 'c');
      const want: OpAttrs = i === 2 ? { da: false } : i === 3 ? { db: false } : {};
      out.push({ label: `${label}${i === 2 ? ', da off' : i === 3 ? ', db off' : ''}`, inputs: { a: A, b: B, dc: randn(c.shape, s + 20 + i) }, attrs: { ...attrs, ...want } });
    }
    return out;
  },
};

// ---- loss -------------------------------------------------------------------------------------

const dice_loss_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 3, 7, 9, 5]', inputs: { logits: randn([2, 3, 7, 9, 5], s, 2), target: randu([2, 3, 7, 9, 5], s + 1, 0, 1) } },
    { label: '[2, 2, 30011]', inputs: { logits: randn([2, 2, 30011], s + 2, 2), target: randu([2, 2, 30011], s + 3, 0, 1) } },
  ],
};
const dice_loss_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 3, 7, 9, 5], dloss 0.7', inputs: { logits: randn([2, 3, 7, 9, 5], s, 2), target: randu([2, 3, 7, 9, 5], s + 1, 0, 1), dloss: { data: Float32Array.of(0.7), shape: [1] } } },
    { label: '[2, 2, 30011], dloss 1', inputs: { logits: randn([2, 2, 30011], s + 2, 2), target: randu([2, 2, 30011], s + 3, 0, 1), dloss: { data: Float32Array.of(1), shape: [1] } } },
  ],
};
const mseCases = (s: number, backward: boolean): OpCase[] => {
  const rows = (n: number, every: number) => indices(Array.from({ length: n }, (_, i) => (i % every ? 1 : 0)));
  const dloss: Record<string, OpInput> = backward ? { dloss: { data: Float32Array.of(0.6), shape: [1] } } : {};
  return [
    { label: '[301, 211], 2 of 3 rows masked', inputs: { pred: randn([301, 211], s), target: randn([301, 211], s + 1), mask: rows(301, 3), ...dloss } },
    { label: '[301, 211], 2 of 3 rows masked, norm_pix', inputs: { pred: randn([301, 211], s), target: randn([301, 211], s + 1, 3), mask: rows(301, 3), ...dloss }, attrs: { norm_pix: true } },
    { label: 'paper rows [650, 4096], norm_pix', inputs: { pred: randn([650, 4096], s + 2), target: randn([650, 4096], s + 3), mask: rows(650, 4), ...dloss }, attrs: { norm_pix: true } },
    { label: '[7, 5], no row masked (loss 0)', inputs: { pred: randn([7, 5], s + 4), target: randn([7, 5], s + 5), mask: indices(new Int32Array(7)), ...dloss } },
  ];
};
const masked_mse_forward: OpSpec = { cases: async (s): Promise<OpCase[]> => mseCases(s, false) };
const masked_mse_backward: OpSpec = { cases: async (s): Promise<OpCase[]> => mseCases(s, true) };

// ---- norm -------------------------------------------------------------------------------------

const normShapes: [string, number[]][] = [
  ['[2, 3, 7, 9, 5]', [2, 3, 7, 9, 5]],
  ['[1, 2, 33, 31, 29]', [1, 2, 33, 31, 29]],
  ['rank 3 [4, 5, 1] (one value per instance)', [4, 5, 1]],
];
const instance_norm_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => normShapes.map(([label, shape], i) => ({ label, inputs: { x: randn(shape, s + i, 2) } })),
};
const instance_norm_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape]] of normShapes.entries()) {
      const x = randn(shape, s + i, 2);
      const fwd = await cpuOp('instance_norm_forward', { x });
      out.push({ label, inputs: { x, mean: f(fwd, 'mean'), rstd: f(fwd, 'rstd'), dy: randn(shape, s + 10 + i) } });
    }
    return out;
  },
};

const instance_norm_act_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => normShapes.map(([label, shape], i) => ({ label: `${label}, slope ${i ? 1 : 0.01}`, inputs: { x: randn(shape, s + i, 2) }, attrs: { slope: i ? 1 : 0.01 } })),
};
const instance_norm_act_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape]] of normShapes.entries()) {
      const fwd = await cpuOp('instance_norm_act_forward', { x: randn(shape, s + i, 2) });
      out.push({ label, inputs: { y: f(fwd, 'y'), rstd: f(fwd, 'rstd'), dy: randn(shape, s + 10 + i) } });
    }
    return out;
  },
};

// ---- optim ------------------------------------------------------------------------------------

const adamw_step: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [50021, 7].map((n, i) => ({
    label: `[${n}], step ${3 + i}`,
    inputs: { param: randn([n], s + i), grad: randn([n], s + 10 + i, 0.1), m: randn([n], s + 20 + i, 0.01), v: randu([n], s + 30 + i, 0, 1e-3) },
    attrs: { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.05, step: 3 + i },
    inplace: ['param', 'm', 'v'],
  })),
};
const grad_norm_sq: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[70001]', inputs: { x: randn([70001], s) } },
    { label: '[3, 1000003]', inputs: { x: randn([3, 1000003], s + 1, 0.01) } },
    { label: '[33]', inputs: { x: randn([33], s + 2) } },
    { label: 'empty [0]', inputs: { x: randn([0], s + 3) } },
  ],
};
const scale_inplace: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[1001], s 0.37', inputs: { x: randn([1001], s) }, attrs: { s: 0.37 }, inplace: ['x'] },
    { label: '[3, 100003], s −2', inputs: { x: randn([3, 100003], s + 1) }, attrs: { s: -2 }, inplace: ['x'] },
  ],
};

// ---- patch embedding --------------------------------------------------------------------------

// x [N, C, H, W, D] with p: C 3 and p 4 (K = 192) on a non-cubic volume; C 1, p 16 (the models'
// K = 4096) on a small one.
const peShapes: [string, number[], number, number][] = [
  ['[2, 3, 8, 16, 4], p 4, E 5', [2, 3, 8, 16, 4], 4, 5],
  ['[3, 1, 32, 16, 16], p 16, E 24', [3, 1, 32, 16, 16], 16, 24],
];
const peParams = (shape: number[], p: number, E: number, s: number) => ({
  w: randn([E, shape[1], p, p, p], s, 0.05),
  b: randn([E], s + 1),
  sw: randn([shape[0], E], s + 2),
  sb: randn([shape[0], E], s + 3),
});
const patch_embed_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape, p, E]] of peShapes.entries()) {
      const x = randn(shape, s + i);
      const { w, b, sw, sb } = peParams(shape, p, E, s + 10 * (i + 1));
      out.push({ label: `${label}, scales`, inputs: { x, w, b, sw, sb }, attrs: { p } });
      out.push({ label: `${label}, ${i ? 'no bias' : 'no scales'}`, inputs: i ? { x, w } : { x, w, b }, attrs: { p } });
    }
    return out;
  },
};
const patch_embed_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape, p, E]] of peShapes.entries()) {
      const x = randn(shape, s + i);
      const { w, b, sw, sb } = peParams(shape, p, E, s + 10 * (i + 1));
      const P = (shape[2] / p) * (shape[3] / p) * (shape[4] / p);
      const dy = randn([shape[0], P, E], s + 50 + i);
      out.push({ label: `${label}, scales, all grads`, inputs: { x, w, b, sw, sb, dy }, attrs: { p } });
      out.push({ label: `${label}, scales, dx and dsb off`, inputs: { x, w, b, sw, sb, dy }, attrs: { p, dx: false, dsb: false } });
      out.push({ label: `${label}, no scales`, inputs: { x, w, b, dy }, attrs: { p } });
    }
    return out;
  },
};
const patchify_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => peShapes.map(([label, shape, p]) => ({ label, inputs: { x: randn(shape, s) }, attrs: { p } })),
};
const patchify_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> =>
    peShapes.map(([label, shape, p], i) => {
      const P = (shape[2] / p) * (shape[3] / p) * (shape[4] / p);
      return { label, inputs: { dpatches: randn([shape[0], P, shape[1] * p ** 3], s + i) }, attrs: { p, input_size: shape.slice(2) } };
    }),
};
// Rows of patches [T, K] in segments (one per sample, one empty), as the model embeds kept patches.
const rowsCase = (s: number, lens: number[], C: number, p: number, E: number) => {
  const K = C * p ** 3;
  const N = lens.length;
  return {
    patches: randn([sum(lens), K], s),
    offsets: offsetsOf(lens),
    w: randn([E, C, p, p, p], s + 1, 0.05),
    b: randn([E], s + 2),
    sw: randn([N, E], s + 3),
    sb: randn([N, E], s + 4),
  };
};
const rowsShapes: [string, number[], number, number, number][] = [
  ['segments 5/0/43, K 192, E 24', [5, 0, 43], 3, 4, 24],
  ['segments 64/64/64/0, K 4096, E 96 (demo)', [64, 64, 64, 0], 1, 16, 96],
];
const patch_embed_rows_forward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, lens, C, p, E]] of rowsShapes.entries()) {
      const r = rowsCase(s + 10 * i, lens, C, p, E);
      out.push({ label, inputs: r });
      out.push({ label: `${label}, no scales`, inputs: { patches: r.patches, offsets: r.offsets, w: r.w, b: r.b } });
    }
    return out;
  },
};
const patch_embed_rows_backward: OpSpec = {
  gemm: true,
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, lens, C, p, E]] of rowsShapes.entries()) {
      const r = rowsCase(s + 10 * i, lens, C, p, E);
      const z = f(await cpuOp('patch_embed_rows_forward', r), 'z');
      const dy = randn(z.shape, s + 50 + i);
      out.push({ label: `${label}, all grads`, inputs: { ...r, z, dy } });
      out.push({ label: `${label}, dpatches and dsw off`, inputs: { ...r, dy }, attrs: { dpatches: false, dsw: false } });
    }
    return out;
  },
};

// ---- pool -------------------------------------------------------------------------------------

const poolShapes: [string, number[]][] = [
  ['odd [2, 3, 7, 9, 5] (floors)', [2, 3, 7, 9, 5]],
  ['[1, 4, 32, 30, 28]', [1, 4, 32, 30, 28]],
];
const maxpool3d_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => poolShapes.map(([label, shape], i) => ({ label, inputs: { x: randn(shape, s + i) } })),
};
const maxpool3d_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape]] of poolShapes.entries()) {
      const fwd = await cpuOp('maxpool3d_forward', { x: randn(shape, s + i) });
      const argmax = ix(fwd, 'argmax');
      out.push({ label, inputs: { argmax, dy: randn(argmax.shape, s + 10 + i) }, attrs: { input_size: shape.slice(2) } });
    }
    return out;
  },
};
const groupShapes: [string, number[], number[]][] = [
  ['[11, 3, 97], groups 1/7/3', [11, 3, 97], [0, 1, 8, 11]],
  ['rank 1 [9], groups 4/5', [9], [0, 4, 9]],
  ['[7, 216, 96], groups 3/1/3 (tokens)', [7, 216, 96], [0, 3, 4, 7]],
];
const group_max_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => groupShapes.map(([label, shape, offsets], i) => ({ label, inputs: { x: randn(shape, s + i), offsets: indices(offsets) } })),
};
const group_max_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => {
    const out: OpCase[] = [];
    for (const [i, [label, shape, offsets]] of groupShapes.entries()) {
      const fwd = await cpuOp('group_max_forward', { x: randn(shape, s + i), offsets: indices(offsets) });
      const argmax = ix(fwd, 'argmax');
      out.push({ label, inputs: { argmax, dy: randn(argmax.shape, s + 10 + i) }, attrs: { rows: shape[0] } });
    }
    return out;
  },
};

// ---- sequence ---------------------------------------------------------------------------------

const concat_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 3, 5, 7, 4] ; [2, 2, 5, 7, 4]', inputs: { a: randn([2, 3, 5, 7, 4], s), b: randn([2, 2, 5, 7, 4], s + 1) } },
    { label: 'rank 2 [37, 1] ; [37, 52]', inputs: { a: randn([37, 1], s + 2), b: randn([37, 52], s + 3) } },
  ],
};
const concat_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 5, 5, 7, 4] split 3', inputs: { dy: randn([2, 5, 5, 7, 4], s) }, attrs: { split: 3 } },
    { label: '[2, 5, 5, 7, 4] split 2, da only', inputs: { dy: randn([2, 5, 5, 7, 4], s + 1) }, attrs: { split: 2, db: false } },
    { label: '[37, 53] split 1, db only', inputs: { dy: randn([37, 53], s + 2) }, attrs: { split: 1, da: false } },
  ],
};
// Many tokens over few table rows: the backward's scatter-adds collide heavily.
const embedShapes: [string, number, number, number, number][] = [
  ['T 4001, E 200, P 343, K 9', 4001, 200, 343, 9],
  ['T 37, E 13, P 5, K 2', 37, 13, 5, 2],
];
const embed_add_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> =>
    embedShapes.map(([label, T, E, P, K], i) => ({
      label,
      inputs: { x: randn([T, E], s + i), pos: randn([P, E], s + 10 + i), mod: randn([K, E], s + 20 + i), pos_index: ints(T, P, s + 30 + i), mod_index: ints(T, K, s + 40 + i) },
    })),
};
const embed_add_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> =>
    embedShapes.map(([label, T, E, P, K], i) => ({
      label: `${label}${i ? ', dx off' : ''}`,
      inputs: { pos_index: ints(T, P, s + 30 + i), mod_index: ints(T, K, s + 40 + i), dy: randn([T, E], s + i) },
      attrs: { num_pos: P, num_mod: K, ...(i ? { dx: false } : {}) },
    })),
};
const gather_rows_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[343, 200] ← 4001 rows (repeats)', inputs: { x: randn([343, 200], s), index: ints(4001, 343, s + 1) } },
    { label: '[5, 3, 7] ← 9 rows', inputs: { x: randn([5, 3, 7], s + 2), index: ints(9, 5, s + 3) } },
    { label: '[5, 3] ← no rows', inputs: { x: randn([5, 3], s + 4), index: indices([]) } },
  ],
};
const gather_rows_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '4001 rows → [343, 200] (colliding adds)', inputs: { index: ints(4001, 343, s + 1), dy: randn([4001, 200], s) }, attrs: { rows: 343 } },
    { label: '9 rows → [5, 3, 7]', inputs: { index: ints(9, 5, s + 3), dy: randn([9, 3, 7], s + 2) }, attrs: { rows: 5 } },
  ],
};

// Grids and widths off every tile size; a 1-token grid.
const tokens_to_volume_forward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 30, 37] → grid [3, 5, 2]', inputs: { x: randn([2, 30, 37], s) }, attrs: { grid: [3, 5, 2] } },
    { label: '[3, 1, 70] → grid [1, 1, 1]', inputs: { x: randn([3, 1, 70], s + 1) }, attrs: { grid: [1, 1, 1] } },
  ],
};
const tokens_to_volume_backward: OpSpec = {
  cases: async (s): Promise<OpCase[]> => [
    { label: '[2, 37, 3, 5, 2] → [2, 30, 37]', inputs: { dy: randn([2, 37, 3, 5, 2], s) } },
    { label: '[1, 768, 6, 6, 6] → [1, 216, 768]', inputs: { dy: randn([1, 768, 6, 6, 6], s + 1) } },
  ],
};

/** Every op's cases; test/cuda/parity.test.ts fails when a registered op is missing here. */
export const OP_SPECS: Record<string, OpSpec> = {
  adamw_step,
  add_forward,
  attention_backward,
  attention_forward,
  concat_backward,
  concat_forward,
  conv3d_backward,
  conv3d_forward,
  conv_transpose3d_backward,
  conv_transpose3d_forward,
  dice_loss_backward,
  dice_loss_forward,
  embed_add_backward,
  embed_add_forward,
  gather_rows_backward,
  gather_rows_forward,
  gelu_backward,
  gelu_forward,
  grad_norm_sq,
  group_max_backward,
  group_max_forward,
  instance_norm_act_backward,
  instance_norm_act_forward,
  instance_norm_backward,
  instance_norm_forward,
  layernorm_backward,
  layernorm_forward,
  leaky_relu_backward,
  leaky_relu_forward,
  linear_backward,
  linear_forward,
  masked_mse_backward,
  masked_mse_forward,
  matmul_backward,
  matmul_forward,
  maxpool3d_backward,
  maxpool3d_forward,
  patch_embed_backward,
  patch_embed_forward,
  patch_embed_rows_backward,
  patch_embed_rows_forward,
  patchify_backward,
  patchify_forward,
  scale_inplace,
  tokens_to_volume_backward,
  tokens_to_volume_forward,
};

/** Registered ops with no entry in OP_SPECS (each needs one before it can ship). */
export function opsWithoutCases(): string[] {
  return addon
    .opList()
    .map((o) => o.name)
    .filter((n) => !Object.hasOwn(OP_SPECS, n));
}

/** A copy of one tensor (its type kept). */
export function copyOf(t: OpInput): OpInput {
  return t.data instanceof Int32Array ? { data: t.data.slice(), shape: [...t.shape] } : { data: t.data.slice(), shape: [...t.shape] };
}

/** A deep copy of a case's inputs (in-place ops write into them). */
export function cloneInputs(inputs: Record<string, OpInput>): Record<string, OpInput> {
  const out: Record<string, OpInput> = {};
  for (const [k, v] of Object.entries(inputs)) out[k] = copyOf(v);
  return out;
}
