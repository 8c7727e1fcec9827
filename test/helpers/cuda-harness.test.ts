// The CUDA tests (test/cuda) first run for real in a short GPU session, so their own logic is
// checked here, against a stand-in addon that runs "CUDA" ops on the CPU
// (fake-cuda-addon.cjs): a faithful device passes, and each injected fault — a wrong element, a
// NaN, an output element left unwritten, an input overwritten — fails the parity test.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const avaCli = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const OPS = 'gelu_forward,linear_backward,adamw_step,group_max_forward';

function runAva(files: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [avaCli, ...files], {
      cwd: root,
      env: {
        ...process.env,
        AMAE_ADDON: path.join(root, 'test/helpers/fake-cuda-addon.cjs'),
        // The fake wraps the addon this process uses.
        ...(process.env.AMAE_ADDON ? { AMAE_FAKE_BASE: path.resolve(process.env.AMAE_ADDON) } : {}),
        AMAE_PARITY_OPS: OPS,
        AMAE_REQUIRE_CUDA: '1',
        ...env,
      },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// Under the sanitizer run (LD_PRELOAD of the ASan runtime) these child runs would only repeat, far
// slower, what the plain run checks: the harness is TypeScript, the fake runs the CPU ops.
const harnessTest = process.env.LD_PRELOAD?.includes('asan') ? test.skip : test;

harnessTest('the parity and model tests pass against a faithful (fake) device', async (t) => {
  const r = await runAva(['test/cuda/parity-f32.test.ts', 'test/cuda/parity-bf16.test.ts', 'test/cuda/amae.test.ts'], {});
  t.is(r.code, 0, r.out);
  t.regex(r.out, /f32 parity: linear_backward/);
  t.regex(r.out, /bf16 parity: linear_backward/);
  t.regex(r.out, /ten pre-training steps/);
  t.notRegex(r.out, /skipped:/);
});

// One run, one fault per op, each op's test failing with its own message.
const faults: [string, string, RegExp][] = [
  ['gelu_forward', 'perturb', /gelu_forward \(odd \[37, 53\]\) y \[37, 53\]: .* 1 of 1961 elements over/],
  ['linear_backward', 'nan', /linear_backward \(odd \[37, 53\] → 29, all grads\) db \[29\]: .*worst \[\d+\] = NaN/],
  ['group_max_forward', 'unwritten', /\[poisoned outputs\] argmax: 1 of \d+ indices differ/],
  ['adamw_step', 'clobber', /the CUDA call changed inputs\.grad/],
];
harnessTest('the parity test fails on each device fault', async (t) => {
  const r = await runAva(['test/cuda/parity-f32.test.ts'], {
    FAKE_CUDA_FAULT: faults.map(([op, f]) => `${op}:${f}`).join(','),
    AMAE_PARITY_OPS: OPS,
  });
  t.not(r.code, 0, r.out);
  for (const [op, fault, message] of faults) t.regex(r.out, message, `${op} with fault ${fault}`);
  t.regex(r.out, /4 tests failed/);
});

harnessTest('AMAE_REQUIRE_CUDA fails a run where CUDA is unavailable', async (t) => {
  const r = await runAva(['test/cuda/parity-f32.test.ts'], { AMAE_ADDON: process.env.AMAE_ADDON ?? '' });
  t.not(r.code, 0, r.out);
  t.regex(r.out, /AMAE_REQUIRE_CUDA is set but CUDA is unavailable/);
});
