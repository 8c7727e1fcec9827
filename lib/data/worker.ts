// The loader's worker thread: reads and prepares one subject per request (the slow part of
// loading: inflating, reorienting, resampling, percentiles) and hands the voxels back to the main
// thread by transferring their buffers, without a copy.

import { parentPort } from 'node:worker_threads';
import { lesionVoxels } from './augment.js';
import type { PrepareReply, PrepareRequest } from './pool.js';
import { prepareSubject } from './preprocess.js';
import { CaseError, loadSubject } from './subject.js';

if (!parentPort) throw new Error('lib/data/worker is the entry of a loader worker thread, not a module to import');
const port = parentPort;

port.on('message', async ({ job, spec, load, preprocess }: PrepareRequest) => {
  let reply: PrepareReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const prepared = prepareSubject(await loadSubject(spec, load), preprocess);
    const lesion = lesionVoxels(prepared.label);
    reply = { job, ok: true, subject: { ...prepared, lesion } };
    // Every array is freshly allocated by prepareSubject and lesionVoxels, so each owns its
    // buffer and none is shared.
    transfer = [...prepared.contrasts.map((c) => c.data.buffer as ArrayBuffer), lesion.buffer as ArrayBuffer];
    if (prepared.label) transfer.push(prepared.label.buffer as ArrayBuffer);
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    reply = {
      job,
      ok: false,
      error: {
        name: error.name,
        message: error.message,
        stack: error.stack,
        case: error instanceof CaseError ? { where: error.where, caseId: error.caseId, field: error.field } : undefined,
      },
    };
  }
  port.postMessage(reply, transfer);
});
