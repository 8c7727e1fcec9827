// The loss and optimiser ops reduce fixed chunks in a fixed order, so one thread and the whole
// pool must give the same bits. The pool's size is fixed per process: compare with a child.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { addon } from '../../lib/index.js';
import { probeHashes } from './loss_optim_probe.js';

test('loss and optimiser results do not depend on the thread count', async (t) => {
  const script = fileURLToPath(new URL('./loss_optim_probe.ts', import.meta.url));
  const child = execFileSync(process.execPath, ['--import=tsx', script], {
    env: { ...process.env, AMAE_NUM_THREADS: '1' },
    encoding: 'utf8',
  });
  t.log(`this process: ${addon.build.threads} threads; child: 1`);
  t.deepEqual(JSON.parse(child), await probeHashes());
});
