import test from 'ava';
import { type AmaeConfig, createAmae } from '../../lib/models/amae.js';
import { AdaptiveUnetr, Unetr } from '../../lib/models/segmentation.js';
import { amaeToAdaptiveUnetr, amaeToUnetr } from '../../lib/models/transfer.js';
import { blobSubject } from './fixtures.js';

const tiny: AmaeConfig = { size: [32, 32, 32], patch: 16, embedDim: 48, depth: 3, heads: 4, decoderDim: 48, decoderDepth: 1, decoderHeads: 4 };
const everyPatch = (n: number) => Array.from({ length: 8 }, () => Array.from({ length: n }, (_, q) => q));
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

// A pre-trained-looking AMAE: a few steps move every tensor away from its init.
async function trainedAmae(config: AmaeConfig) {
  const amae = createAmae(config, { seed: 7 });
  const batch = amae.pack([blobSubject(32, [0, 1, 2], 1), blobSubject(32, [1, 6], 2)], { maskRatio: 0.5 });
  for (let i = 0; i < 3; i++) await amae.trainStep(batch, { lr: 1e-2 });
  return amae;
}

test('AMAE → UNETR: the patch embedding is the DCT folded per slot (spec §3), the rest copied', async (t) => {
  const amae = await trainedAmae(tiny);
  const unetr = await amaeToUnetr(amae, { featureSize: 8, slots: ['ADC', 'TRACE', 'T2'] });
  const a = await amae.weights();
  const u = await unetr.weights();
  const E = 48;
  const V = 16 ** 3;
  const slots = [0, 1, 2];
  const pw = a['vit.tokenizer.projector.weight'].data; // [2E, 9]: one-hot codes pick column k
  const pb = a['vit.tokenizer.projector.bias'].data;
  const sw = (e: number, k: number) => pw[e * 9 + k] + pb[e];
  const sb = (e: number, k: number) => pw[(E + e) * 9 + k] + pb[E + e];
  let worstW = 0;
  let worstB = 0;
  for (let e = 0; e < E; e++) {
    slots.forEach((k, c) => {
      for (let v = 0; v < V; v += 97) {
        const want = a['vit.tokenizer.weight'].data[e * V + v] * sw(e, k);
        worstW = Math.max(worstW, Math.abs(u['vit.patch_embedding.patch_embeddings.weight'].data[(e * 3 + c) * V + v] - want));
      }
    });
    let bias = 0;
    for (const k of slots) bias += a['vit.tokenizer.bias'].data[e] * sb(e, k) + a['vit.modality_embedding'].data[k * E + e] / 3;
    worstB = Math.max(worstB, Math.abs(u['vit.patch_embedding.patch_embeddings.bias'].data[e] - bias));
  }
  t.true(worstW < 1e-7 && worstB < 1e-6, `folded weight ${worstW}, bias ${worstB}`);
  t.deepEqual(u['vit.patch_embedding.position_embeddings'], a['vit.position_embedding']);
  for (const name of Object.keys(a).filter((n) => n.startsWith('vit.blocks.') || n.startsWith('vit.norm.'))) t.deepEqual(u[name], a[name], name);
  // The transferred model computes something else than a fresh one with the same decoder init.
  const fresh = new Unetr(unetr.config, { seed: 0 });
  const b = unetr.pack([{ ...blobSubject(32, [0, 1, 2], 3) }]);
  const diff = maxDiff((await unetr.forward(b)).logits.data, (await fresh.forward(b)).logits.data);
  t.log(`transferred vs fresh logits: max |Δ| = ${diff}`);
  t.true(diff > 1e-3);
  await t.throwsAsync(amaeToUnetr(createAmae({ ...tiny, patch: 8 })), { instanceOf: RangeError, message: /AMAE patch 8: only p = 16 transfers/ });
});

for (const code of ['onehot', 'learned'] as const) {
  test(`AMAE → one-slot UNETR encodes contrast k exactly as the AMAE encoder does without masking (${code} codes)`, async (t) => {
    const amae = await trainedAmae({ ...tiny, code });
    for (const [k, name] of [[1, 'TRACE'], [6, 'FLAIR']] as const) {
      const unetr = await amaeToUnetr(amae, { featureSize: 8, slots: [name] });
      const subject = blobSubject(32, [k], 4);
      const tokens = await unetr.encode(unetr.pack([subject]));
      const reference = await amae.encode(amae.pack([subject], { keep: [everyPatch(8).slice(0, 1)] }));
      t.deepEqual(tokens.shape, [8, 48]);
      const d = maxDiff(tokens.data, reference.data);
      t.true(d < 1e-4, `${name}: max |Δ| = ${d}`);
    }
  });
}

test('AMAE → Adaptive UNETR: vit.* copied by name; encoder tokens equal the AMAE encoder on every patch', async (t) => {
  const amae = await trainedAmae({ ...tiny, code: 'learned' });
  const model = await amaeToAdaptiveUnetr(amae, { featureSize: 8 });
  t.is(model.config.code, 'learned');
  const a = await amae.weights();
  const w = await model.weights();
  for (const name of Object.keys(w).filter((n) => n.startsWith('vit.'))) t.deepEqual(w[name], a[name], name);
  const subject = blobSubject(32, [0, 2, 7], 5);
  const tokens = await model.encode(model.pack([subject]));
  const reference = await amae.encode(amae.pack([subject], { keep: [everyPatch(8).slice(0, 3)] }));
  t.deepEqual(tokens.shape, [24, 48]);
  t.true(maxDiff(tokens.data, reference.data) < 1e-5);
  const fresh = new AdaptiveUnetr(model.config);
  const b = model.pack([subject]);
  t.true(maxDiff((await model.forward(b)).logits.data, (await fresh.forward(b)).logits.data) > 1e-3);
});
