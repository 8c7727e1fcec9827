// `amae demo`: the pipeline on the built-in synthetic data set, no download — the data set
// (`amae synth`), then AMAE pre-training on it (`amae pretrain`, demo preset) with its
// reconstruction figure. It runs the commands themselves, so it shows exactly what they do.

import { integer, parseCommandLine } from './args.js';
import { pretrain } from './pretrain.js';
import { synth } from './synth.js';

export const DEMO_USAGE = `demo [--out DIR] [--subjects N] [--epochs E] [--seed K]
      the pipeline on synthetic data: DIR/data (amae synth, 64³, N subjects, default 20), then
      DIR/pretrain (amae pretrain --preset demo, E epochs, default 40; recon.png is the paper's
      Figure 2). DIR defaults to amae-demo. The experiment (fine-tuning every model, the
      tables) is not in the demo yet: amae finetune runs one model.`;

export async function demo(args: string[]): Promise<void> {
  const v = parseCommandLine(
    args,
    { out: { type: 'string' }, subjects: { type: 'string' }, epochs: { type: 'string' }, seed: { type: 'string' } } as const,
    'demo [--out DIR] [--subjects N] [--epochs E] [--seed K]',
  ).values;
  const out = v.out ?? 'amae-demo';
  const subjects = integer('subjects', v.subjects ?? '20', 2, 10000);
  const epochs = integer('epochs', v.epochs ?? '40', 1, 100000);
  const seed = v.seed ?? '1';
  integer('seed', seed, 0, Number.MAX_SAFE_INTEGER);
  const say = (line: string) => process.stdout.write(`${line}\n`);

  say(`amae demo → ${out}\n[1/2] synthetic data set: ${subjects} subjects, 64³`);
  await synth(['--out', `${out}/data`, '--subjects', String(subjects), '--labeled', String(Math.ceil(subjects / 2)), '--size', '64', '--seed', seed]);
  say(`[2/2] AMAE pre-training, demo preset, ${epochs} epochs`);
  // A small model on 20 subjects learns at a far larger rate than the paper's 1e-5 (see README).
  await pretrain(['--data', `${out}/data`, '--preset', 'demo', '--out', `${out}/pretrain`, '--epochs', String(epochs),
    '--lr', '1e-3', '--warmup', String(Math.max(1, Math.floor(epochs / 20))), '--seed', seed, '--checkpoint-every', String(Math.max(1, Math.floor(epochs / 4)))]);
  say('Fine-tune a segmentation model on it with: amae finetune --data ' + `${out}/data --model adaptive-unetr --preset demo --init ${out}/pretrain/amae.safetensors --out ${out}/finetune`);
}
