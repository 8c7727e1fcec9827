// nibabel (Debian's python3-nibabel for /usr/bin/python3) as the oracle for NIfTI semantics.
// Tests that need it skip, saying why, where it is missing.
import { spawnSync } from 'node:child_process';
import test from 'ava';

const PYTHON = '/usr/bin/python3';

/** Whether /usr/bin/python3 can import every module named. */
export function pythonHas(...modules: string[]): boolean {
  return spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

export const hasNibabel: boolean = pythonHas('nibabel', 'numpy');

/** `test` when nibabel imports, else `test.skip` (the reason printed once per file). */
export const nibabelTest: typeof test = (() => {
  if (hasNibabel) return test;
  console.log(`skipping nibabel cross-checks: '${PYTHON} -c "import nibabel"' fails`);
  return test.skip as unknown as typeof test;
})();

/** Runs a Python script (argv after the script as given) and parses the JSON it prints. */
export function python<T>(script: string, ...args: string[]): T {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
