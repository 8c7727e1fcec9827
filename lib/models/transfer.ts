// Weight transfer from a pre-trained AMAE (spec §3): to Adaptive UNETR the tokenizer, embeddings,
// blocks and norm are copied by name (`vit.*` is AMAE's there); to UNETR the blocks, the norm and
// the position table are copied and the patch embedding is folded from the DCT:
//   weight[:, c] = W ⊙ s_w(k_c) for each slot c,  bias = Σ_c B ⊙ s_b(k_c) + mean_c M[k_c],
// so that a one-slot UNETR embeds contrast k exactly as the AMAE encoder does (the modality
// embedding of a single slot is its own). The decoders start fresh from the model's seed.
import { CONTRASTS } from '../data/contrasts.js';
import type { Tensor } from '../tensor.js';
import type { Amae } from './amae.js';
import type { ModelOptions } from './model.js';
import { AdaptiveUnetr, Unetr } from './segmentation.js';

/** The decoder side of the transferred model; the encoder comes from the AMAE. */
export interface TransferOptions extends ModelOptions {
  /** F, MONAI's feature_size (default 16, the paper's). */
  featureSize?: number;
  classes?: number;
  /** UNETR only: the channel slots (default ADC, TRACE, T2). */
  slots?: readonly string[];
}

function encoderOf(amae: Amae) {
  const c = amae.config;
  if (c.patch !== 16) throw new RangeError(`AMAE patch ${c.patch}: only p = 16 transfers to UNETR (its decoder upsamples ×16; spec §3)`);
  return { size: c.size, patch: 16 as const, embedDim: c.embedDim, depth: c.depth, heads: c.heads, mlpRatio: c.mlpRatio };
}

/** An Adaptive UNETR whose `vit.*` is the AMAE's (tokenizer, code table, embeddings, blocks, norm). */
export async function amaeToAdaptiveUnetr(amae: Amae, options: TransferOptions = {}): Promise<AdaptiveUnetr> {
  const { featureSize = 16, classes = 1, seed, device } = options;
  const model = new AdaptiveUnetr(
    { ...encoderOf(amae), featureSize, classes, code: amae.config.code, posEmbed: amae.config.posEmbed },
    { seed, device },
  );
  const source = await amae.weights();
  const wanted = new Set(model.parameters().map((p) => p.name));
  const copied: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(source)) if (name.startsWith('vit.') && wanted.has(name)) copied[name] = t;
  await model.setWeights(copied);
  return model;
}

/** A UNETR with the AMAE's blocks, norm and position table, and the patch embedding folded from the DCT. */
export async function amaeToUnetr(amae: Amae, options: TransferOptions = {}): Promise<Unetr> {
  const { featureSize = 16, classes = 1, slots, seed, device } = options;
  const model = new Unetr({ ...encoderOf(amae), featureSize, classes, slots }, { seed, device });
  const w = await amae.weights();
  const copied: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(w)) if (name.startsWith('vit.blocks.') || name.startsWith('vit.norm.')) copied[name] = t;
  copied['vit.patch_embedding.position_embeddings'] = w['vit.position_embedding'];
  Object.assign(copied, foldPatchEmbedding(w, amae.config.embedDim, amae.config.patch, model.config.slots.map((s) => CONTRASTS.indexOf(s))));
  await model.setWeights(copied);
  return model;
}

/** The DCT's scales [s_w | s_b] (2E) for contrast k: projector(m_k), m_k one-hot or the code table's row. */
function scales(w: Record<string, Tensor>, E: number, k: number): Float64Array {
  const pw = w['vit.tokenizer.projector.weight'];
  const pb = w['vit.tokenizer.projector.bias'].data;
  const codeDim = pw.shape[1];
  const table = w['vit.tokenizer.code_table'];
  const code = new Float64Array(codeDim);
  if (table) for (let j = 0; j < codeDim; j++) code[j] = table.data[k * codeDim + j];
  else code[k] = 1;
  const s = new Float64Array(2 * E);
  for (let r = 0; r < 2 * E; r++) {
    let acc = pb[r];
    for (let j = 0; j < codeDim; j++) acc += pw.data[r * codeDim + j] * code[j];
    s[r] = acc;
  }
  return s;
}

/** UNETR's `vit.patch_embedding.patch_embeddings.{weight,bias}` from AMAE weights, for the slots' ids. */
export function foldPatchEmbedding(w: Record<string, Tensor>, E: number, p: number, slots: readonly number[]): Record<string, Tensor> {
  const V = p * p * p;
  const W = w['vit.tokenizer.weight'].data;
  const B = w['vit.tokenizer.bias'].data;
  const M = w['vit.modality_embedding'].data;
  const C = slots.length;
  const weight = new Float32Array(E * C * V);
  const bias = new Float64Array(E);
  slots.forEach((k, c) => {
    const s = scales(w, E, k);
    for (let e = 0; e < E; e++) {
      for (let v = 0; v < V; v++) weight[(e * C + c) * V + v] = W[e * V + v] * s[e];
      bias[e] += B[e] * s[E + e] + M[k * E + e] / C;
    }
  });
  return {
    'vit.patch_embedding.patch_embeddings.weight': { data: weight, shape: [E, C, p, p, p] },
    'vit.patch_embedding.patch_embeddings.bias': { data: Float32Array.from(bias), shape: [E] },
  };
}
