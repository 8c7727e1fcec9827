// Atomic file replacement: write beside the final name, flush to disk, rename into place. A crash
// or kill at any moment leaves either the old file or the new one, never half of one, so a
// resumed run never mistakes a torn checkpoint for a good one.
import { open, rename, rm } from 'node:fs/promises';

export async function writeFileAtomic(file: string, chunks: Uint8Array | Uint8Array[]): Promise<void> {
  const partial = `${file}.partial-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const fh = await open(partial, 'w');
    try {
      for (const c of Array.isArray(chunks) ? chunks : [chunks]) await fh.write(c);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(partial, file);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}
