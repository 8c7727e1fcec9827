// Shared by the benchmarks: timing, and the optional anchors (PyTorch from Debian's python3-torch).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export type Emit = (record: Record<string, unknown>) => void;

/** Median seconds per call of fn, after a warm-up, over at least `minSeconds` of runs. */
export async function timeit(fn: () => Promise<unknown>, { minSeconds = 1, minRuns = 3 } = {}): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minRuns || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Debian's python3 (python3-torch installs for it, not for a pyenv python on PATH). */
export const systemPython = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Whether systemPython imports every module named (anchors and cross-checks skip otherwise). */
export function pythonHas(...modules: string[]): boolean {
  return spawnSync(systemPython, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

export function hasTorch(): boolean {
  return pythonHas('torch');
}

/** Runs a Python anchor script that prints one JSON object per line; returns the objects. */
export function runPython(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Record<string, unknown>[] {
  const r = spawnSync(systemPython, [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
