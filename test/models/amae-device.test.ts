// The AMAE model on the GPU against the same model on the CPU (runs only where CUDA can run; the
// CPU-only errors are in test/native/device.test.ts). With fp32 GEMMs the two agree to float
// rounding: the same initial weights bit for bit (initialised on the host, then uploaded), the
// loss, every gradient and the prediction to a relative 1e-3 of their norms, and training steps
// that stay together.
import test from 'ava';
import { cudaInfo, setCudaMath } from '../../lib/device.js';
import { AMAE_PRESETS, createAmae, type AmaeConfig } from '../../lib/models/amae.js';
import { Random } from '../../lib/util/random.js';
import { blobSubject } from './fixtures.js';

const onGpu = cudaInfo().available ? test : test.skip;

function relative(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-12);
}

const configs: [string, AmaeConfig][] = [
  ['tiny, normPix', { ...AMAE_PRESETS.tiny, normPix: true }],
  ['tiny, learned code and position', { ...AMAE_PRESETS.tiny, code: 'learned', posEmbed: 'learnable' }],
];

for (const [what, config] of configs) {
  onGpu(`cuda and cpu agree (${what}): weights, loss, gradients, prediction, steps`, async (t) => {
    setCudaMath('f32');
    const cpu = createAmae(config, { seed: 5 });
    const gpu = createAmae(config, { seed: 5, device: 'cuda' });
    t.is(gpu.device, 'cuda');
    t.deepEqual(await gpu.weights(), await cpu.weights(), 'the same initial weights, bit for bit');
    const subjects = [blobSubject(32, [0, 1, 2], 1), blobSubject(32, [5], 2), blobSubject(32, [1, 2, 3, 4, 5, 6, 7], 3)];
    const batch = cpu.pack(subjects, { random: new Random(4) });

    const a = await cpu.lossAndGrads(batch);
    const b = await gpu.lossAndGrads(batch);
    t.true(Math.abs(b.loss - a.loss) <= 1e-4 * Math.abs(a.loss), `loss ${b.loss} vs ${a.loss}`);
    for (const name of Object.keys(a.grads)) {
      const r = relative(b.grads[name], a.grads[name]);
      t.true(r <= 1e-3, `grad ${name}: relative ${r}`);
    }
    const pa = await cpu.forward(batch);
    const pb = await gpu.forward(batch);
    t.deepEqual(pb.pred.shape, pa.pred.shape);
    t.true(relative(pb.pred.data, pa.pred.data) <= 1e-4, 'prediction');
    t.true(Math.abs(pb.loss - pa.loss) <= 1e-4 * Math.abs(pa.loss), 'prediction loss');

    const random = new Random(9);
    for (let i = 0; i < 3; i++) {
      const step = cpu.pack([subjects[i], subjects[(i + 1) % 3]], { random });
      const sa = await cpu.trainStep(step, { lr: 1e-3, maxGradNorm: 1 });
      const sb = await gpu.trainStep(step, { lr: 1e-3, maxGradNorm: 1 });
      t.true(sb.updated && Math.abs(sb.loss - sa.loss) <= 1e-3 * Math.abs(sa.loss), `step ${i}: ${sb.loss} vs ${sa.loss}`);
      t.true(Math.abs(sb.gradNorm - sa.gradNorm) <= 1e-3 * sa.gradNorm, `step ${i} grad norm: ${sb.gradNorm} vs ${sa.gradNorm}`);
    }
    const wa = await cpu.weights();
    const wb = await gpu.weights();
    for (const name of Object.keys(wa)) t.true(relative(wb[name].data, wa[name].data) <= 1e-3, `weights ${name} after 3 steps`);

    // setState onto the device: the CPU's weights in, the same loss out.
    await gpu.setWeights(wa);
    t.deepEqual(await gpu.weights(), wa);
    const c = await gpu.lossAndGrads(batch);
    const d = await cpu.lossAndGrads(batch);
    t.true(Math.abs(c.loss - d.loss) <= 1e-4 * Math.abs(d.loss), 'after setWeights');
  });
}
