// A pool of worker threads that read and prepare subjects (lib/data/worker.ts) for the loader.
// Jobs are served first come, first served, so the batches the loader needs first are ready
// first. Every job settles — with the subject, with the worker's own error, or with an error
// saying the worker died or the pool closed — so a caller awaiting one can never hang. Idle
// workers are unref'd: a pool whose owner forgot to close it does not keep the process alive.

import { Worker } from 'node:worker_threads';
import type { AugmentSource } from './augment.js';
import type { PreparedSubject, PreprocessOptions } from './preprocess.js';
import { CaseError, type SubjectOptions, type SubjectSpec } from './subject.js';

/** A prepared subject and its lesion voxels, as a worker hands it back. */
export type PreparedSource = PreparedSubject & AugmentSource;

export interface PrepareRequest {
  job: number;
  spec: SubjectSpec;
  load: SubjectOptions;
  preprocess: PreprocessOptions;
}

/** An error as it crosses the thread boundary: class instances do not survive structured cloning,
 * so the parts a caller may look at travel as data. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** The fields of a CaseError, so that it is one again on this side. */
  case?: { where: string; caseId: string; field: string };
}

export type PrepareReply = { job: number; ok: true; subject: PreparedSource } | { job: number; ok: false; error: WireError };

interface Job {
  request: PrepareRequest;
  resolve: (subject: PreparedSource) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** A job cut short by close(): not a failure of the subject. */
export class LoaderClosedError extends Error {
  constructor() {
    super('the loader is closed');
    this.name = 'LoaderClosedError';
  }
}

export class PreparePool {
  readonly #size: number;
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #jobs = 0;
  #closed = false;

  constructor(size: number) {
    this.#size = size;
  }

  /** Reads and prepares a subject in a worker (started on demand, up to the pool's size). */
  prepare(spec: SubjectSpec, load: SubjectOptions, preprocess: PreprocessOptions): Promise<PreparedSource> {
    if (this.#closed) return Promise.reject(new LoaderClosedError());
    return new Promise((resolve, reject) => {
      this.#queue.push({ request: { job: this.#jobs++, spec, load, preprocess }, resolve, reject });
      this.#dispatch();
    });
  }

  /** Workers alive now. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Terminates every worker; jobs not yet done are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new LoaderClosedError();
    for (const job of this.#queue.splice(0)) job.reject(closed);
    const slots = this.#slots.splice(0);
    for (const slot of slots) slot.job?.reject(closed);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.job === null);
      if (!slot) {
        if (this.#slots.length >= this.#size) return;
        slot = this.#spawn();
      }
      const job = this.#queue.shift()!;
      slot.job = job;
      // Busy: the process waits for the result.
      slot.worker.ref();
      slot.worker.postMessage(job.request);
    }
  }

  #spawn(): Slot {
    const worker = startWorker();
    worker.unref();
    const slot: Slot = { worker, job: null };
    worker.on('message', (reply: PrepareReply) => {
      const job = slot.job!;
      slot.job = null;
      worker.unref();
      if (reply.ok) job.resolve(reply.subject);
      else job.reject(revive(reply.error));
      this.#dispatch();
    });
    // An exception outside a job's try (e.g. the worker failing to start), or the thread ending:
    // the job it held fails, and the next job gets a fresh worker.
    worker.on('error', (e) => this.#lost(slot, new Error(`loader worker failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => this.#lost(slot, new Error(`loader worker exited (code ${code}) while preparing a subject`)));
    this.#slots.push(slot);
    return slot;
  }

  #lost(slot: Slot, error: Error): void {
    const at = this.#slots.indexOf(slot);
    // Already gone: 'exit' follows 'error', and close() removes every slot before terminating.
    if (at < 0) return;
    this.#slots.splice(at, 1);
    const job = slot.job;
    slot.job = null;
    if (job) {
      const { spec, load } = job.request;
      job.reject(new Error(`${load.where ? `${load.where}: ` : ''}case '${spec.id}': ${error.message}`, { cause: error }));
    }
    this.#dispatch();
  }
}

/**
 * A worker running worker.ts (compiled: worker.js beside this file). In a source checkout run
 * through tsx, a worker thread's entry file does not get tsx's loader hooks whatever the
 * execArgv, so the worker starts from a line of JavaScript that imports worker.ts through tsx's
 * API instead.
 */
function startWorker(): Worker {
  const here = new URL(import.meta.url);
  if (!here.pathname.endsWith('.ts')) return new Worker(new URL('./worker.js', here));
  const entry = JSON.stringify(new URL('./worker.ts', here).href);
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return new Worker(`import(${tsx}).then((api) => api.tsImport(${entry}, ${entry}));`, { eval: true });
}

/** The worker's error on this side: the same message, name and (worker's) stack; a CaseError is
 * rebuilt as one, so that callers can tell a bad case from a bug. */
function revive(wire: WireError): Error {
  const error = wire.case ? new CaseError(wire.case.where, wire.case.caseId, wire.case.field, '') : new Error('');
  error.message = wire.message;
  error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  return error;
}
