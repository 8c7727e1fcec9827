// nibabel (Debian's python3-nibabel for /usr/bin/python3) as the oracle for NIfTI semantics.
// Tests that need it skip, saying why, where it is missing.
import { spawnSync } from 'node:child_process';
import test, { type ExecutionContext } from 'ava';
import { pythonHas, systemPython as PYTHON } from '../../bench/util.js';

export { pythonHas };

export const hasNibabel: boolean = pythonHas('nibabel', 'numpy');

let toldSkip = false;

/** A test that needs nibabel: skipped, with the reason printed once per file, where it is missing. */
export function nibabelTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>): void {
  if (hasNibabel) return test(title, fn);
  if (!toldSkip) console.log(`skipping nibabel cross-checks: '${PYTHON} -c "import nibabel"' fails`);
  toldSkip = true;
  test.skip(title, fn);
}

/** Runs a Python script (argv after the script as given) and parses the JSON it prints. */
export function python<T>(script: string, ...args: string[]): T {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
