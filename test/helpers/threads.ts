// The thread pool's size is fixed per process (AMAE_NUM_THREADS), so comparing results across
// thread counts means running the same computation in a child process.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Tensor } from '../../lib/tensor.js';

/** A SHA-256 over the raw bytes of the tensors, in order: equal digests mean bit-identical values. */
export function digest(tensors: Tensor[]): string {
  const h = createHash('sha256');
  for (const t of tensors) h.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return h.digest('hex');
}

/** Calls the async function `name` exported by the module at `file` in a child Node process
 *  whose pool has `threads` threads, and returns its (JSON-serialisable) result. */
export function callWithThreads(threads: number, file: string, name: string): Promise<unknown> {
  const code =
    `const m = await import(${JSON.stringify(pathToFileURL(file).href)});` +
    `process.stdout.write(JSON.stringify(await m[${JSON.stringify(name)}]()));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import=tsx', '--input-type=module', '-e', code],
      { env: { ...process.env, AMAE_NUM_THREADS: String(threads) } },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
    );
  });
}
