// The CUDA kernels executed on the host, without a GPU: test/native/cuda-emu/run.sh compiles the
// real native/cuda/*.cu with g++ against an emulated CUDA runtime (each CUDA thread a fiber,
// barriers and warp shuffles, ASan/UBSan, device memory host code cannot touch) and checks every
// op of every family in native/sources-cuda.txt against the CPU ops, then runs it all again with
// the grid caps shrunk to 2 blocks (grid-stride loops); its "model" check runs the whole AMAE
// model (native/models) on the emulated CUDA device against the CPU model. It fails on any FAIL
// line (a mismatch, a sanitizer report, an emulator abort, a family without its test) or a
// non-zero exit.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = fileURLToPath(new URL('../..', import.meta.url));
const gxx = spawnSync('g++', ['--version']);
const skip =
  gxx.error || gxx.status !== 0
    ? 'g++ is not installed'
    : process.platform !== 'linux' || process.arch !== 'x64'
      ? `the emulation's fiber switch is x86-64 Linux assembly (this is ${process.platform}/${process.arch})`
      : '';

const title = 'CUDA kernels under host emulation match the CPU ops (every family, real and shrunk grid caps)';
if (skip) {
  test.skip(`${title} — skipped: ${skip}`, () => {});
} else {
  test(title, (t) => {
    const start = Date.now();
    const run = spawnSync('bash', ['test/native/cuda-emu/run.sh'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      env: { ...process.env, EMU_WORK: '' },
    });
    const out = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
    const lines = out.split('\n');
    // The failing lines, and the first lines of each sanitizer / compiler report for context.
    const failing: string[] = [];
    lines.forEach((l, i) => {
      if (/^FAIL|runtime error:|error:/.test(l)) failing.push(l);
      if (/ERROR: AddressSanitizer/.test(l)) failing.push(...lines.slice(i, i + 12));
    });
    const summary = lines.find((l) => l.startsWith('emulation:')) ?? '(no summary: the run stopped early)';
    t.log(`${summary}; ${((Date.now() - start) / 1000).toFixed(0)} s with the build`);
    if (run.error) t.fail(`run.sh did not run: ${run.error.message}`);
    else if (run.status !== 0 || failing.length)
      t.fail(`run.sh exited ${run.status}\n${(failing.length ? failing : lines.slice(-40)).join('\n')}`);
    else t.pass();
  });
}
