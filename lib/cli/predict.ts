// `amae predict --checkpoint CKPT --images ADC=a.nii.gz TRACE=b.nii.gz … --out seg.nii.gz`: a
// study's files to a uint8 lesion mask on the reference image's grid (lib/infer/predict.ts), and
// `amae convert`: an AMAE checkpoint to an untrained segmentation checkpoint (the transfer of spec
// §3), so a MONAI user can pre-train with amae and fine-tune in MONAI.

import { parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

export const PREDICT_USAGE = `predict --checkpoint CKPT --images ADC=a.nii.gz TRACE=b.nii.gz [T2=…] --out seg.nii.gz
      [--probabilities p.nii.gz] [--reference NAME] [--preprocess none] [--tta]
      segments a study with a fine-tuned model: every image onto the reference contrast's grid
      (default the first of TRACE/DWI, ADC), preprocessed as in training (none: as it is),
      sliding windows (--tta: averaged over the 8 axis flips), mapped back to the reference file's
      grid; a uint8 mask with its affine`;

export const CONVERT_USAGE = `convert --checkpoint amae.safetensors --to unetr|adaptive-unetr [--slots ADC,TRACE,T2]
      [--feature-size F] --out init.safetensors
      the AMAE encoder transferred into an untrained segmentation model (UNETR: MONAI's names)`;

const PREDICT_SYNOPSIS = 'predict --checkpoint CKPT --images CONTRAST=FILE … --out seg.nii.gz [options] (amae predict --help lists them)';

// --images takes every following argument up to the next option.
function splitImages(args: string[]): { rest: string[]; images: Record<string, string> } {
  const rest: string[] = [];
  const images: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--images') {
      rest.push(args[i]);
      continue;
    }
    while (i + 1 < args.length && !args[i + 1].startsWith('--')) {
      const pair = args[++i];
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1) throw new UsageError(`--images takes CONTRAST=FILE pairs, got '${pair}'`);
      const name = pair.slice(0, eq);
      if (Object.hasOwn(images, name)) throw new UsageError(`--images names ${name} twice`);
      images[name] = pair.slice(eq + 1);
    }
  }
  return { rest, images };
}

export async function predict(args: string[]): Promise<void> {
  const { rest, images } = splitImages(args);
  const v = parseCommandLine(
    rest,
    { checkpoint: { type: 'string' }, out: { type: 'string' }, probabilities: { type: 'string' }, reference: { type: 'string' }, preprocess: { type: 'string' }, tta: { type: 'boolean' } } as const,
    PREDICT_SYNOPSIS,
  ).values;
  if (!v.checkpoint || !v.out || Object.keys(images).length === 0) throw new UsageError(`--checkpoint, --images and --out are required; usage: amae ${PREDICT_SYNOPSIS}`);
  if (v.preprocess !== undefined && v.preprocess !== 'none') throw new UsageError(`--preprocess takes only 'none', got '${v.preprocess}'`);
  const { loadSegmentationModel } = await import('../models/segmentation.js');
  const { predictFiles } = await import('../infer/predict.js');
  const { writeNifti } = await import('../data/nifti.js');
  const model = await loadSegmentationModel(v.checkpoint);
  let result;
  try {
    result = await predictFiles(model, images, { reference: v.reference, tta: v.tta ?? false, ...(v.preprocess === 'none' && { preprocess: 'none' as const }) });
  } catch (e) {
    // A contrast the model cannot use, an unknown name, a reference not given: the user's to fix.
    if (e instanceof RangeError || /^(images|reference)/.test((e as Error).message)) throw new UsageError((e as Error).message);
    throw e;
  }
  for (const c of result.zeroFilled) process.stderr.write(`amae predict: no ${c} image: its slot is zero-filled\n`);
  await writeNifti(v.out, result.mask, { datatype: 'uint8' });
  if (v.probabilities) await writeNifti(v.probabilities, result.probabilities, { datatype: 'float32' });
  process.stdout.write(`mask ${v.out} [${result.mask.shape}]: lesion ${result.lesionMl.toFixed(2)} ml\n`);
}

export async function convert(args: string[]): Promise<void> {
  const v = parseCommandLine(
    args,
    { checkpoint: { type: 'string' }, to: { type: 'string' }, slots: { type: 'string' }, 'feature-size': { type: 'string' }, out: { type: 'string' } } as const,
    'convert --checkpoint amae.safetensors --to unetr|adaptive-unetr --out init.safetensors [options]',
  ).values;
  if (!v.checkpoint || !v.to || !v.out) throw new UsageError('--checkpoint, --to and --out are required; usage: amae convert --checkpoint amae.safetensors --to unetr|adaptive-unetr --out init.safetensors');
  if (v.to !== 'unetr' && v.to !== 'adaptive-unetr') throw new UsageError(`--to must be unetr or adaptive-unetr, got '${v.to}'`);
  if (v.slots && v.to !== 'unetr') throw new UsageError('--slots is for --to unetr (Adaptive UNETR takes every contrast)');
  const { integer } = await import('./args.js');
  const featureSize = v['feature-size'] === undefined ? 16 : integer('feature-size', v['feature-size'], 1, 1024);
  const { Amae } = await import('../models/amae.js');
  const { amaeToAdaptiveUnetr, amaeToUnetr } = await import('../models/transfer.js');
  const amae = await Amae.load(v.checkpoint);
  let model;
  try {
    model = v.to === 'unetr' ? await amaeToUnetr(amae, { featureSize, slots: v.slots?.split(',').map((s) => s.trim()) }) : await amaeToAdaptiveUnetr(amae, { featureSize });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  await model.save(v.out);
  process.stdout.write(`${v.to} ${v.out}: ${model.parameters().length} tensors from ${v.checkpoint}\n`);
}
