// The fine-tuning run: its files, a run killed mid-way and resumed giving the uninterrupted run's
// numbers bit for bit (validation Dice and best.safetensors included), initialisation from an AMAE
// checkpoint, refused inputs. Budget: 6 synthetic 32³ labelled subjects, the tiny preset.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { writeSynthDataset } from '../../lib/data/synth.js';
import { createAmae } from '../../lib/models/amae.js';
import { readSafetensors } from '../../lib/models/safetensors.js';
import { createSegmentationModel } from '../../lib/models/segmentation.js';
import { TrainingError } from '../../lib/train/errors.js';
import { dice, finetune } from '../../lib/train/finetune.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/amae.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-finetune-'));
const data = path.join(tmp, 'data');
// 6 labelled subjects: 4 training, 1 validation, 1 test.
const ready = writeSynthDataset(data, { subjects: 6, labeled: 6, size: 32, seed: 4 });
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function amae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}
const lines = (dir: string) =>
  fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, number>);
const readLast = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'last.json'), 'utf8'));

test('dice: thresholded at 0.5, both empty is 1', (t) => {
  t.is(dice([0.9, 0.2, 0.7, 0.1], [1, 0, 0, 0]), 2 / 3);
  t.is(dice([0.1, 0.2], [0, 0]), 1);
  t.is(dice([0.6, 0.2], [0, 0]), 0);
  t.is(dice([0.5], [1]), 1);
});

test('a run writes metrics (steps and validation Dice), checkpoints, best and final weights', async (t) => {
  await ready;
  const out = path.join(tmp, 'plain');
  const s = await finetune({ data, model: 'unetr', preset: 'tiny', out, epochs: 4, valEvery: 2, seed: 1 });
  t.is(s.steps, 8, '4 training cases at batch 2, 4 epochs');
  const m = lines(out);
  t.is(m.filter((l) => 'loss' in l).length, 8);
  const val = m.filter((l) => 'val_dice' in l);
  t.deepEqual(val.map((l) => l.step), [4, 8]);
  t.true(val.every((l) => l.val_dice >= 0 && l.val_dice <= 1));
  t.is(s.bestDice, Math.max(...val.map((l) => l.val_dice)));
  for (const f of ['best.safetensors', 'model.safetensors', 'last.json', 'checkpoint-8.safetensors', 'checkpoint-8.optim.safetensors'])
    t.true(fs.existsSync(path.join(out, f)), f);
  t.is((await readSafetensors(path.join(out, 'best.safetensors'))).metadata.kind, 'unetr');
});

test('a run killed after a checkpoint and resumed gives the uninterrupted run’s numbers and weights bit for bit', async (t) => {
  await ready;
  const args = ['--model', 'adaptive-unetr', '--preset', 'tiny', '--epochs', '12', '--val-every', '2', '--seed', '5', '--modality-dropout', '0.3'];
  const whole = path.join(tmp, 'whole');
  const killed = path.join(tmp, 'killed');
  const full = await amae('finetune', '--data', data, '--out', whole, ...args);
  t.is(full.code, 0, full.stderr);
  const child = spawn(process.execPath, [bin, 'finetune', '--data', data, '--out', killed, ...args], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
  for (;;) {
    const done = await Promise.race([exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 5))]);
    if (done) break;
    try {
      const at = readLast(killed).step;
      if (lines(killed).some((l) => l.step > at)) {
        child.kill('SIGKILL');
        break;
      }
    } catch {
      // not there yet
    }
  }
  t.is(await exited, 'SIGKILL', 'the run was still going when killed');
  const atKill = readLast(killed).step;
  t.true(atKill >= 4 && atKill < 24, `killed with the checkpoint of step ${atKill}`);
  const resumed = await amae('finetune', '--data', data, '--out', killed, ...args, '--resume');
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stdout, new RegExp(`resumed from step ${atKill}`));
  t.deepEqual(lines(killed), lines(whole));
  for (const f of ['model.safetensors', 'best.safetensors']) t.deepEqual(fs.readFileSync(path.join(killed, f)), fs.readFileSync(path.join(whole, f)), f);
  t.deepEqual(fs.readdirSync(killed).sort(), fs.readdirSync(whole).sort());
});

test('--init: an AMAE checkpoint is transferred; refused inputs are one-line errors', async (t) => {
  await ready;
  const ckpt = path.join(tmp, 'amae.safetensors');
  await createAmae('tiny', { seed: 3 }).save(ckpt);
  const out = path.join(tmp, 'init');
  await finetune({ data, model: 'unetr', preset: 'tiny', init: ckpt, out, epochs: 1, seed: 1 });
  t.true(fs.existsSync(path.join(out, 'best.safetensors')));
  const fail = async (options: Partial<Parameters<typeof finetune>[0]>, message: RegExp) => {
    const e = await t.throwsAsync(finetune({ data, model: 'unetr', preset: 'tiny', out: path.join(tmp, `bad-${Math.random()}`), epochs: 1, ...options } as never), { instanceOf: TrainingError });
    t.regex(e!.message, message);
  };
  await fail({ model: 'vnet' as never }, /unknown model 'vnet'/);
  await fail({ model: 'unet', init: ckpt }, /is an AMAE checkpoint: it transfers to unetr and adaptive-unetr, not to a U-Net/);
  const unet = path.join(tmp, 'unet.safetensors');
  await createSegmentationModel('unet', 'tiny').save(unet);
  await fail({ init: unet }, /is a unet checkpoint, not unetr/);
  await fail({ model: 'adaptive-unetr', slots: ['ADC'] }, /slots: Adaptive UNETR takes every contrast/);
  await fail({ modalityDropout: 1 }, /modalityDropout 1 must be in \[0, 1\)/);
  await fail({ resume: true }, /nothing to resume/);
  const cli = await amae('finetune', '--data', data, '--out', path.join(tmp, 'x'), '--model', 'unetr', '--epochs', 'two');
  t.is(cli.code, 2);
  t.regex(cli.stderr, /^amae finetune: --epochs/);
});

test('amae pretrain --preset tiny with no other flags learns; amae finetune --preset tiny runs on its preset defaults', async (t) => {
  await ready;
  const pre = path.join(tmp, 'pre-defaults');
  const r = await amae('pretrain', '--data', data, '--preset', 'tiny', '--out', pre);
  t.is(r.code, 0, r.stderr);
  const losses = lines(pre).map((l) => l.loss);
  const head = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
  const tail = losses.slice(-6).reduce((a, b) => a + b) / 6;
  t.true(tail < 0.8 * head, `pre-training loss ${head.toFixed(4)} → ${tail.toFixed(4)}`);
  const ft = path.join(tmp, 'ft-defaults');
  const f = await amae('finetune', '--data', data, '--model', 'unet', '--preset', 'tiny', '--out', ft);
  t.is(f.code, 0, f.stderr);
  t.regex(f.stdout, /fine-tuned 40 epochs, 80 steps/, "the tiny preset: 40 epochs at batch 2");
});
