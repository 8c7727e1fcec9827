// A stand-in "CUDA" addon for checking the CUDA test harness where no GPU is
// (test/helpers/cuda-harness.test.ts): AMAE_ADDON=test/helpers/fake-cuda-addon.cjs. It wraps the
// real CPU addon (AMAE_FAKE_BASE, else the package's build), reports an available device, and
// runs {device: 'cuda'} ops on the CPU with the copy-in/copy-out semantics of the real one:
// inputs copied, outputs fresh (then copied into caller-given buffers), in-place state copied back.
// FAKE_CUDA_FAULT injects the faults the harness must catch, in every op (FAULT) or per op
// (op:FAULT,op:FAULT…):
//   perturb   one element of the first output off by 1e-3 relative
//   nan       one element of the first output NaN
//   unwritten a caller-given output buffer keeps one element of what it held (the poison)
//   clobber   the call writes into an input that is not the op's state
'use strict';
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const base = process.env.AMAE_FAKE_BASE ? require(path.resolve(process.env.AMAE_FAKE_BASE)) : require('node-gyp-build')(root);
const faults = (process.env.FAKE_CUDA_FAULT || '').split(',').filter(Boolean);
const faultOf = (name) => {
  for (const f of faults) {
    const [op, kind] = f.includes(':') ? f.split(':') : [name, f];
    if (op === name) return kind;
  }
  return '';
};
const INPLACE = { adamw_step: ['param', 'm', 'v'], scale_inplace: ['x'] };
let math = 'f32';

const copy = (t) => ({ data: t.data.slice(), shape: [...t.shape] });

async function op(name, inputs, attrs, outputs, options) {
  if (!options || options.device !== 'cuda') return base.op(name, inputs, attrs, outputs);
  const fault = faultOf(name);
  const dev = {};
  for (const [k, v] of Object.entries(inputs)) dev[k] = copy(v);
  const out = await base.op(name, dev, attrs);
  const first = Object.keys(out).sort()[0];
  if (first && out[first].data.length && out[first].data instanceof Float32Array) {
    const d = out[first].data;
    if (fault === 'perturb') d[d.length >> 1] *= 1 + 1e-3;
    if (fault === 'nan') d[d.length >> 1] = NaN;
  }
  for (const k of INPLACE[name] || []) inputs[k].data.set(dev[k].data);
  if (fault === 'clobber') {
    const k = Object.keys(inputs).find((n) => !(INPLACE[name] || []).includes(n) && inputs[n].data.length);
    if (k) inputs[k].data[0] += 1;
  }
  if (!outputs) return out;
  const result = {};
  for (const [k, v] of Object.entries(out)) {
    if (!outputs[k]) {
      result[k] = v;
      continue;
    }
    const keep = fault === 'unwritten' && v.data.length ? outputs[k].data[0] : undefined;
    outputs[k].data.set(v.data);
    if (keep !== undefined) outputs[k].data[0] = keep;
    result[k] = outputs[k];
  }
  return result;
}

// Models "on the GPU" are CPU models that report device 'cuda'.
function Model(kind, config, seed) {
  const { device, ...architecture } = config;
  const model = new base.Model(kind, architecture, seed);
  return new Proxy(model, {
    get(target, prop) {
      if (prop === 'device') return device ?? 'cpu';
      const v = target[prop];
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

module.exports = {
  ...base,
  Model,
  build: { ...base.build, cuda: true, cublas: process.env.AMAE_CUDA_GEMM !== 'own' },
  op,
  cudaInfo: () => ({
    available: true,
    reason: '',
    index: 0,
    count: 1,
    name: 'fake CUDA device (the CPU)',
    major: 9,
    minor: 0,
    multiprocessors: 1,
    totalMemory: 2 ** 30,
    freeMemory: 2 ** 30,
    cublas: process.env.AMAE_CUDA_GEMM !== 'own',
  }),
  cudaSetMath: (m) => {
    if (m !== 'f32' && m !== 'bf16') throw new RangeError(`math must be 'f32' or 'bf16', got ${m}`);
    math = m;
  },
  cudaMath: () => math,
};
