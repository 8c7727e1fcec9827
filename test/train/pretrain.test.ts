// The pre-training run: its files (metrics, checkpoints, last.json, weights, figure), a run killed
// mid-way and resumed giving the uninterrupted run's numbers bit for bit, refused resumes, the
// loss falling, and `amae pretrain`'s argument errors.
//
// Budget: 5 synthetic 32³ subjects (writeSynthDataset, ~1.5 s), the tiny preset at batch 2 — 3
// steps an epoch, ~50 ms an epoch once the subjects are cached on this 2-core machine.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { writeSynthDataset } from '../../lib/data/synth.js';
import { AMAE_PRESETS, Amae } from '../../lib/models/amae.js';
import { readSafetensors } from '../../lib/models/safetensors.js';
import { addon } from '../../lib/native.js';
import { TrainingError } from '../../lib/train/errors.js';
import { pretrain, type PretrainMetrics, type PretrainOptions, type PretrainSummary } from '../../lib/train/pretrain.js';
import { lrAt } from '../../lib/train/schedule.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/amae.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-pretrain-'));
const data = path.join(tmp, 'data');
const STEPS_PER_EPOCH = 3; // 5 pre-training cases (training, validation, unlabeled) at batch 2

function amae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const readMetrics = (dir: string): PretrainMetrics[] =>
  fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

const readLast = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'last.json'), 'utf8'));

// Everything but the throughput, which is wall-clock time.
const numbers = (m: PretrainMetrics[]) => m.map(({ samples_per_s, ...rest }) => rest);

// 6 subjects: 3 labelled (training, validation, test: one each) and 3 unlabelled.
const ready = writeSynthDataset(data, { subjects: 6, labeled: 3, size: 32, seed: 3 });
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The main run, shared by the tests that look at what it wrote: 20 epochs, 60 steps, a
// checkpoint every 8 epochs (and at the end).
const RUN = { model: 'tiny', epochs: 20, batchSize: 2, lr: 1e-3, warmupEpochs: 1, seed: 1, checkpointEvery: 8 } satisfies Partial<PretrainOptions>;
const mainOut = path.join(tmp, 'main');
const seen = { progress: 0, lastAt25: null as unknown, filesAt25: [] as string[] };
const mainRun: Promise<PretrainSummary> = ready.then(() =>
  pretrain({
    ...RUN,
    data,
    out: mainOut,
    onProgress: (p) => {
      seen.progress++;
      // Step 25 is the first of epoch 9: the checkpoint after epoch 8 (step 24) is the run's.
      if (p.step === 25) {
        seen.lastAt25 = readLast(mainOut);
        seen.filesAt25 = fs.readdirSync(mainOut).sort();
      }
    },
  }),
);

test('a run writes a metrics line per step, checkpoints, last.json, the weights and Figure 2', async (t) => {
  const summary = await mainRun;
  t.is(summary.steps, 60);
  t.is(summary.epochs, 20);
  t.is(seen.progress, 60);

  const metrics = readMetrics(mainOut);
  t.is(metrics.length, 60);
  const schedule = { lr: 1e-3, warmupSteps: STEPS_PER_EPOCH, totalSteps: 60 };
  metrics.forEach((m, i) => {
    t.deepEqual(Object.keys(m), ['step', 'epoch', 'loss', 'lr', 'grad_norm', 'samples_per_s', 'updated']);
    t.is(m.step, i + 1);
    t.is(m.epoch, Math.floor(i / STEPS_PER_EPOCH));
    t.is(m.lr, lrAt(i, schedule));
    t.true(m.updated && Number.isFinite(m.loss) && m.loss > 0 && m.grad_norm > 0 && m.samples_per_s > 0, `step ${m.step}`);
  });
  t.is(summary.finalLoss, metrics[59].loss);

  // Mid-run: the epoch-8 checkpoint and nothing older or newer.
  t.like(seen.lastAt25, { step: 24, epoch: 8, weights: 'checkpoint-24.safetensors', optimizer: 'checkpoint-24.optim.safetensors' });
  t.deepEqual(seen.filesAt25, ['checkpoint-24.optim.safetensors', 'checkpoint-24.safetensors', 'last.json', 'metrics.jsonl']);
  // The end: the last checkpoint only, the product and the figure.
  t.deepEqual(fs.readdirSync(mainOut).sort(), [
    'amae.safetensors',
    'checkpoint-60.optim.safetensors',
    'checkpoint-60.safetensors',
    'last.json',
    'metrics.jsonl',
    'recon.png',
  ]);
  const last = readLast(mainOut);
  t.like(last, { step: 60, epoch: 20, seed: 1, batchSize: 2, maskRatio: 0.7, epochs: 20, lr: 1e-3, warmupEpochs: 1, data: { name: 'amae-synth', cases: 5 } });
  t.like(last.config, AMAE_PRESETS.tiny);
  t.like(last.preprocess, { spacing: null, patchSize: 16, minShape: [32, 32, 32] });

  // The weights load, and are the last checkpoint's; the optimizer file holds the step count.
  const model = await Amae.load(summary.files.weights);
  t.like(model.config, AMAE_PRESETS.tiny);
  t.deepEqual(await model.weights(), await (await Amae.load(path.join(mainOut, last.weights))).weights());
  await model.loadOptimizer(path.join(mainOut, last.optimizer));
  t.is((await readSafetensors(path.join(mainOut, last.optimizer))).metadata.step, '60');

  // Figure 2 of the validation subject: one 160 px column per contrast (32³ zoomed ×5, 4 px
  // gaps), three rows.
  const png = fs.readFileSync(summary.files.figure);
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const contrasts = Object.keys(JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8')).validation[0].images).length;
  t.is(png.readUInt32BE(16), contrasts * 160 + (contrasts - 1) * 4, 'width');
  t.is(png.readUInt32BE(20), 3 * 160 + 2 * 4, 'height');
});

test('the loss falls: 20 epochs of the tiny model at lr 1e-3 (60 steps)', async (t) => {
  await mainRun;
  const losses = readMetrics(mainOut).map((m) => m.loss);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Batches differ in subjects and contrasts, so single losses are noisy: compare whole epochs.
  const first = mean(losses.slice(0, 3 * STEPS_PER_EPOCH));
  const final = mean(losses.slice(-3 * STEPS_PER_EPOCH));
  t.true(final < 0.8 * first, `first 3 epochs ${first.toFixed(3)}, last 3 ${final.toFixed(3)}`);
});

test('a run killed after a checkpoint and resumed gives the uninterrupted run’s numbers bit for bit', async (t) => {
  await ready;
  const args = ['--preset', 'tiny', '--epochs', '20', '--batch-size', '2', '--lr', '1e-3', '--warmup', '1', '--seed', '5', '--checkpoint-every', '2'];
  const whole = path.join(tmp, 'whole');
  const killed = path.join(tmp, 'killed');
  await pretrain({ data, out: whole, model: 'tiny', epochs: 20, batchSize: 2, lr: 1e-3, warmupEpochs: 1, seed: 5, checkpointEvery: 2 });

  // Killed once it has a checkpoint and has logged a step past it, which the resume must drop.
  const child = spawn(process.execPath, [bin, 'pretrain', '--data', data, '--out', killed, ...args], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
  let checkpointStep = 0;
  for (;;) {
    const done = await Promise.race([exited.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 5))]);
    if (done) break;
    try {
      checkpointStep = readLast(killed).step;
      if (readMetrics(killed).some((m) => m.step > checkpointStep)) {
        child.kill('SIGKILL');
        break;
      }
    } catch {
      // last.json or metrics.jsonl not there yet
    }
  }
  t.is(await exited, 'SIGKILL', 'the run was still going when killed');
  const atKill = readLast(killed).step;
  t.true(atKill >= 6 && atKill < 60, `killed with the checkpoint of step ${atKill}`);
  t.true(readMetrics(killed).length > atKill, 'steps after the checkpoint were logged');

  const resumed = await amae('pretrain', '--data', data, '--out', killed, ...args, '--resume');
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stdout, new RegExp(`resumed from step ${atKill}`));
  t.deepEqual(numbers(readMetrics(killed)), numbers(readMetrics(whole)));
  t.deepEqual(fs.readFileSync(path.join(killed, 'amae.safetensors')), fs.readFileSync(path.join(whole, 'amae.safetensors')));
  t.deepEqual(fs.readdirSync(killed).sort(), fs.readdirSync(whole).sort(), 'no checkpoint of the killed run is left over');
});

test('a resume with other options, or with nothing to resume, is refused with the reason', async (t) => {
  await mainRun;
  const before = fs.readFileSync(path.join(mainOut, 'metrics.jsonl'));
  const refused = async (options: Partial<PretrainOptions>, message: RegExp) => {
    const e = await t.throwsAsync(pretrain({ ...RUN, data, out: mainOut, ...options }), { instanceOf: TrainingError });
    t.regex(e!.message, message);
  };
  await refused({ resume: true, seed: 2 }, /cannot resume the run in .*: seed is 2 here but 1 in the checkpoint/);
  await refused({ resume: true, batchSize: 3 }, /batchSize is 3 here but 2 in the checkpoint/);
  await refused({ resume: true, maskRatio: 0.5 }, /maskRatio is 0.5 here but 0.7/);
  await refused({ resume: true, model: { ...AMAE_PRESETS.tiny, depth: 2 } }, /config\.depth is 2 here but 3/);
  await refused({ resume: true, preprocess: { spacing: 2 } }, /preprocess\.spacing is 2 here but null/);
  await refused({}, /already holds a run \(last\.json\): resume it/);
  await refused({ resume: true, out: path.join(tmp, 'empty') }, /nothing to resume: .*last\.json does not exist/);
  t.deepEqual(fs.readFileSync(path.join(mainOut, 'metrics.jsonl')), before, 'a refused run writes nothing');

  // Other data: the unlabeled cases dropped.
  const json = JSON.parse(fs.readFileSync(path.join(data, 'dataset.json'), 'utf8'));
  const fewer = path.join(data, 'fewer.json');
  fs.writeFileSync(fewer, JSON.stringify({ ...json, unlabeled: json.unlabeled.slice(1) }));
  await refused({ resume: true, data: fewer }, /data\.cases is 4 here but 5 in the checkpoint/);

  // The same options resume a finished run to its end again: nothing to train, same files.
  const again = await pretrain({ ...RUN, data, out: mainOut, resume: true });
  t.is(again.steps, 60);
  t.is(again.resumedFrom, 60);
  t.is(again.finalLoss, (await mainRun).finalLoss);
  t.deepEqual(fs.readFileSync(path.join(mainOut, 'metrics.jsonl')), before);
});

test('amae pretrain: --device cuda on a CPU-only build and bad arguments exit 2 with one line', async (t) => {
  await ready;
  const out = path.join(tmp, 'cli-errors');
  const cases: [string[], RegExp][] = [
    [['--data', data, '--preset', 'tiny', '--out', out, '--device', 'cuda'], addon.build.cuda ? /device 'cuda'/ : /device 'cuda': this build of amae has no CUDA backend/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--device', 'tpu'], /device 'tpu' must be 'cpu' or 'cuda'/],
    [['--preset', 'tiny', '--out', out], /--data is required/],
    [['--data', data, '--out', out], /--preset is required/],
    [['--data', data, '--preset', 'huge', '--out', out], /unknown AMAE preset 'huge'; presets: tiny, demo, paper/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--epochs', '0'], /--epochs must be an integer from 1/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--lr', 'fast'], /--lr must be a number, got 'fast'/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--mask-ratio', '1'], /maskRatio 1 must be above 0 and below 1/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--spacing=-1'], /preprocess\.spacing -1 must be positive/],
    [['--data', data, '--preset', 'tiny', '--out', out, '--batch'], /Unknown option '--batch'/],
    [['--data', path.join(tmp, 'nowhere'), '--preset', 'tiny', '--out', out], /nowhere: no such file or folder/],
  ];
  const results = await Promise.all(cases.map(([args]) => amae('pretrain', ...args)));
  results.forEach(({ code, stderr }, i) => {
    t.is(code, 2, cases[i][0].join(' '));
    t.regex(stderr, cases[i][1]);
    t.regex(stderr, /^amae pretrain: [^\n]*\n$/, 'one line');
  });
  t.false(fs.existsSync(out), 'nothing written');
  const help = await amae('pretrain', '--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: amae pretrain --data DATASET --preset tiny\|demo\|paper --out DIR/);
});
