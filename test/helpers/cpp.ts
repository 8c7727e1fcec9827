// Builds and runs a C++ check program (test/native/cpp/*.cpp) against native sources: the way to
// test what the JS binding does not carry (C++-only entry points, the arena, the thread pool).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cxx = process.env.CXX ?? 'c++';
const hasCompiler = (() => {
  const probe = spawnSync(cxx, ['--version']);
  return !probe.error && probe.status === 0;
})();

/** Registers an ava test that compiles `program` with `sources` and expects it to print "ok". */
export function cppCheck(title: string, program: string, sources: string[]): void {
  if (!hasCompiler) {
    test.skip(`${title} (skipped: no C++ compiler '${cxx}')`, () => {});
    return;
  }
  test(title, (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-cpp-'));
    try {
      const exe = path.join(dir, 'check');
      const args = ['-std=c++17', '-O1', '-march=x86-64-v3', '-pthread', '-o', exe, program, ...sources];
      const build = spawnSync(cxx, args, { cwd: root, encoding: 'utf8' });
      t.is(build.status, 0, build.stderr);
      const run = spawnSync(exe, { encoding: 'utf8' });
      t.is(run.stdout.trim(), 'ok', run.stderr);
      t.is(run.status, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
