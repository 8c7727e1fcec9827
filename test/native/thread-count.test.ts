// The ops promise bit-identical results whatever the thread count (native/README.md). A process's
// pool size is fixed at load, so other thread counts run in child processes.
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { opDigest } from '../helpers/op-digest.js';

const script = fileURLToPath(new URL('../helpers/op-digest.ts', import.meta.url));

async function digestWith(threads: number): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', script], {
    env: { ...process.env, AMAE_NUM_THREADS: String(threads) },
  });
  return stdout.trim();
}

test('norm, pool and sequence ops give bit-identical results with 1, 3 and the default thread count', async (t) => {
  const [local, one, three] = await Promise.all([opDigest(), digestWith(1), digestWith(3)]);
  t.regex(local, /^[0-9a-f]{64}$/);
  t.is(one, local);
  t.is(three, local);
});
