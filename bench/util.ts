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

/** AMAE_PYTHON, else Debian's python3 (python3-torch installs for it, not for a pyenv python on
 *  PATH). The GPU machine's PyTorch is another python3's: scripts/gpu-check.sh sets AMAE_PYTHON. */
export const systemPython = process.env.AMAE_PYTHON || (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

/** Whether systemPython imports every module named (anchors and cross-checks skip otherwise). */
export function pythonHas(...modules: string[]): boolean {
  return spawnSync(systemPython, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

export function hasTorch(): boolean {
  return pythonHas('torch');
}

/**
 * Runs a Python anchor script that prints one JSON object per line; returns the objects. With
 * timeoutSeconds, a script still running then is killed and the lines it printed are returned,
 * followed by {error} (a hung torch.compile must not take the other figures with it).
 */
export function runPython(
  script: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  timeoutSeconds?: number,
): Record<string, unknown>[] {
  const r = spawnSync(systemPython, [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    ...(timeoutSeconds ? { timeout: timeoutSeconds * 1000, killSignal: 'SIGKILL' as const } : {}),
  });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  if (r.status !== 0 && !timedOut) throw new Error(`${script} failed: ${r.stderr}`);
  const lines = (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return timedOut ? [...lines, { error: `${script} ${args.join(' ')}: killed after ${timeoutSeconds} s` }] : lines;
}
