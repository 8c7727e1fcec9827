// The training data loader: an async iterator of batches. Subjects are read and prepared in
// worker threads (lib/data/worker.ts), kept prepared in memory so that later epochs skip that
// work, and cut into augmented samples (lib/data/augment.ts) on the main thread, a few batches
// ahead of the consumer.
//
// Reproducibility: a sample's randomness comes from (seed, epoch, its position in the epoch) and
// an epoch's order from (seed, epoch), and batches are emitted in order; so the same seed gives
// the same batches whatever the number of workers, the prefetch depth, the cache, or the order in
// which workers finish.
//
// Why augment on the main thread: the cache lives here (the workers come and go with an
// iteration), and handing a cached subject to a worker to crop would cost a copy of the whole
// volume — more than the crop itself.

import os from 'node:os';
import { augmentSample, checkAugmentOptions, type AugmentOptions, type Sample } from './augment.js';
import { LoaderClosedError, PreparePool, type PreparedSource } from './pool.js';
import type { PreprocessOptions } from './preprocess.js';
import { Random } from '../util/random.js';
import type { SubjectOptions, SubjectSpec } from './subject.js';
import type { Shape3 } from './volume.js';

export interface LoaderOptions {
  /** Crop size of training samples (the model's input size S). Needed unless augment.crops is
   * 'none'. */
  roi?: Shape3;
  /** Subjects per batch; the last batch of an epoch may be smaller. Default 1. */
  batchSize?: number;
  /** A fresh random order of the cases every epoch. Default false (the given order). */
  shuffle?: boolean;
  /** Seeds the order and the augmentation. Default 0. */
  seed?: number;
  /** Epochs to run, Infinity for no end. Default 1. */
  epochs?: number;
  /** The first epoch to run (epochs startEpoch … epochs − 1): a resumed training run gets the
   * same batches it would have had without the interruption. Default 0. */
  startEpoch?: number;
  augment?: AugmentOptions;
  preprocess?: PreprocessOptions;
  /** How subjects are read (loadSubject's options; pass the data set's source as `where`, so
   * errors name the file). */
  load?: SubjectOptions;
  /** Worker threads reading and preparing subjects. Default: one per available core, at most 8
   * (each holds a whole subject, several copies of it at its peak) and at most the number of
   * cases. With the cache they work in the first epoch only; idle, they cost no CPU. */
  workers?: number;
  /** Batches prepared ahead of the one the consumer has. Default 2. */
  prefetch?: number;
  /** 'memory' (default) keeps every prepared subject (≈ 4 bytes × voxels × contrasts each) for
   * later epochs; 'none' reads it again every time; a SubjectCache is shared with other loaders
   * (e.g. the models of one experiment fine-tuned on the same cases). */
  cache?: 'memory' | 'none' | SubjectCache;
}

export interface Batch {
  epoch: number;
  /** The batch's index within its epoch. */
  index: number;
  /** In the epoch's order; subjects may differ in their number of contrasts. */
  subjects: Sample[];
}

export interface LoaderStats {
  /** Subjects read and prepared by the workers. */
  decoded: number;
  /** Subjects taken from the cache (or from a read already under way) instead. */
  cacheHits: number;
  /** Worker threads alive now. */
  workers: number;
}

export interface Loader extends AsyncIterable<Batch> {
  readonly batchesPerEpoch: number;
  readonly stats: LoaderStats;
  /** Ends the iteration under way, if any, and terminates its workers (as `break` out of
   * `for await` does). The loader may be iterated again; the cache is kept. */
  close(): Promise<void>;
}

/**
 * Prepared subjects by case and preprocessing. A read under way is shared too, so two requests
 * for one subject never read it twice; a failed read is forgotten, so a later one tries again.
 */
export class SubjectCache {
  readonly #entries = new Map<string, Promise<PreparedSource>>();

  /** Subjects held (or being read). */
  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** The cached subject, or `read()`'s, cached; `hit` says which. */
  get(key: string, read: () => Promise<PreparedSource>): { subject: Promise<PreparedSource>; hit: boolean } {
    const held = this.#entries.get(key);
    if (held) return { subject: held, hit: true };
    const subject = read();
    this.#entries.set(key, subject);
    subject.catch(() => {
      if (this.#entries.get(key) === subject) this.#entries.delete(key);
    });
    return { subject, hit: false };
  }
}

/** A loader over `cases` (e.g. a data set's training split). */
export function createLoader(cases: SubjectSpec[], options: LoaderOptions = {}): Loader {
  return new DataLoader(cases, options);
}

// Purpose tags for derivedRandom: the order of an epoch and its samples draw from unrelated streams.
const ORDER_STREAM = 1;
const SAMPLE_STREAM = 2;

const MAX_DEFAULT_WORKERS = 8;

class DataLoader implements Loader {
  readonly batchesPerEpoch: number;
  readonly #cases: SubjectSpec[];
  readonly #keys: string[];
  readonly #roi: Shape3 | undefined;
  readonly #batchSize: number;
  readonly #shuffle: boolean;
  readonly #seed: number;
  readonly #epochs: number;
  readonly #startEpoch: number;
  readonly #augment: AugmentOptions;
  readonly #preprocess: PreprocessOptions;
  readonly #load: SubjectOptions;
  readonly #workers: number;
  readonly #prefetch: number;
  readonly #cache: SubjectCache | null;
  /** The pool of the iteration under way; null between iterations. */
  #pool: PreparePool | null = null;
  #decoded = 0;
  #cacheHits = 0;

  constructor(cases: SubjectSpec[], options: LoaderOptions) {
    if (!Array.isArray(cases) || cases.length === 0) throw new RangeError('createLoader needs at least one case');
    const positive = (name: string, value: number | undefined, fallback: number, min = 1) => {
      const v = value ?? fallback;
      if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`${name} ${v} must be an integer ≥ ${min}`);
      return v;
    };
    this.#roi = options.roi && ([...options.roi] as Shape3);
    if (this.#roi && !(this.#roi.length === 3 && this.#roi.every((n) => Number.isInteger(n) && n > 0))) {
      throw new RangeError(`roi [${this.#roi}] must be three positive integers`);
    }
    this.#augment = { ...options.augment };
    checkAugmentOptions(this.#roi, this.#augment);
    this.#batchSize = positive('batchSize', options.batchSize, 1);
    this.#seed = options.seed ?? 0;
    if (!Number.isSafeInteger(this.#seed)) throw new RangeError(`seed ${this.#seed} must be an integer`);
    this.#epochs = options.epochs === Infinity ? Infinity : positive('epochs', options.epochs, 1);
    this.#startEpoch = positive('startEpoch', options.startEpoch, 0, 0);
    if (!(this.#startEpoch < this.#epochs)) throw new RangeError(`startEpoch ${this.#startEpoch} leaves nothing of ${this.#epochs} epochs to run`);
    this.#workers = positive('workers', options.workers, Math.min(os.availableParallelism(), MAX_DEFAULT_WORKERS, cases.length));
    this.#prefetch = positive('prefetch', options.prefetch, 2, 0);
    this.#shuffle = options.shuffle ?? false;
    this.#cases = [...cases];
    this.#preprocess = { ...options.preprocess };
    this.#load = { ...options.load };
    const cache = options.cache ?? 'memory';
    if (!(cache instanceof SubjectCache || cache === 'memory' || cache === 'none')) throw new RangeError(`cache '${cache}' must be 'memory', 'none' or a SubjectCache`);
    this.#cache = cache === 'memory' ? new SubjectCache() : cache === 'none' ? null : cache;
    // Everything that decides a prepared subject: its files, how they are read, how prepared.
    this.#keys = this.#cases.map((spec) => stableJson([spec, this.#load.referenceOrder ?? null, this.#preprocess]));
    this.batchesPerEpoch = Math.ceil(cases.length / this.#batchSize);
  }

  get stats(): LoaderStats {
    return { decoded: this.#decoded, cacheHits: this.#cacheHits, workers: this.#pool?.workers ?? 0 };
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    await pool?.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.#iterate();
  }

  async *#iterate(): AsyncGenerator<Batch> {
    if (this.#pool) throw new Error('this loader is already being iterated: finish or close() that iteration first');
    const pool = new PreparePool(this.#workers);
    this.#pool = pool;
    const closed = () => this.#pool !== pool;
    const pending: Promise<Batch>[] = [];
    // The oldest batch in flight; null once close() ended the iteration, whose batches then fail
    // with "closed" — not an error of the consumer's.
    const take = async (): Promise<Batch | null> => {
      try {
        const batch = await pending.shift()!;
        return closed() ? null : batch;
      } catch (e) {
        if (closed()) return null;
        throw e;
      }
    };
    try {
      for (const plan of this.#schedule()) {
        if (closed()) return;
        const batch = this.#batch(plan, pool);
        // Awaited in order by take(); one that fails while earlier ones are still awaited must not
        // be reported as an unhandled rejection (which ends the process).
        batch.catch(() => {});
        pending.push(batch);
        if (pending.length > this.#prefetch) {
          const next = await take();
          if (!next) return;
          yield next;
        }
      }
      while (pending.length > 0) {
        const next = await take();
        if (!next) return;
        yield next;
      }
    } finally {
      // Also on break, return() and errors: no worker outlives its iteration.
      if (this.#pool === pool) this.#pool = null;
      await pool.close();
    }
  }

  /** The batches in order: per epoch the case order, cut into batches. */
  *#schedule(): Generator<{ epoch: number; index: number; cases: number[]; first: number }> {
    const n = this.#cases.length;
    for (let epoch = this.#startEpoch; epoch < this.#epochs; epoch++) {
      const order = this.#shuffle ? new Random(this.#seed, ORDER_STREAM, epoch).permutation(n) : [...Array(n).keys()];
      for (let index = 0, first = 0; first < n; index++, first += this.#batchSize) {
        yield { epoch, index, cases: order.slice(first, first + this.#batchSize), first };
      }
    }
  }

  async #batch(plan: { epoch: number; index: number; cases: number[]; first: number }, pool: PreparePool): Promise<Batch> {
    const subjects = await Promise.all(plan.cases.map((c, i) => this.#sample(c, plan.epoch, plan.first + i, pool)));
    return { epoch: plan.epoch, index: plan.index, subjects };
  }

  async #sample(caseIndex: number, epoch: number, position: number, pool: PreparePool): Promise<Sample> {
    const source = await this.#prepared(caseIndex, pool);
    // A cached subject is ready at once; waiting for the event loop's next turn lets a prefetched
    // batch be augmented while the consumer awaits its own work (a training step running off the
    // main thread), not inside the consumer's call to next().
    await new Promise((resolve) => setImmediate(resolve));
    return augmentSample(source, this.#roi, this.#augment, new Random(this.#seed, SAMPLE_STREAM, epoch, position));
  }

  #prepared(caseIndex: number, pool: PreparePool): Promise<PreparedSource> {
    const read = () =>
      pool.prepare(this.#cases[caseIndex], this.#load, this.#preprocess).then((subject) => {
        this.#decoded++;
        return subject;
      });
    if (!this.#cache) return read();
    const { subject, hit } = this.#cache.get(this.#keys[caseIndex], read);
    if (!hit) return subject;
    this.#cacheHits++;
    // A read under way for another loader sharing the cache fails when that loader closes (the
    // cache has forgotten it by then): read it here instead.
    return subject.catch((e) => {
      if (e instanceof LoaderClosedError && this.#pool === pool) return this.#prepared(caseIndex, pool);
      throw e;
    });
  }
}

/** JSON with object keys sorted, so that equal options give equal cache keys whatever the order
 * they were written in. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
