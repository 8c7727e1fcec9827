// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw
// little-endian tensor bytes. amae stores F32 weights and I32/I64 indices; F16 and BF16 tensors are
// read (widened to float32) so checkpoints from other tools load.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';

export type StoredTensor = { data: Float32Array; shape: number[] } | { data: Int32Array; shape: number[]; int: true };

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

const MAX_HEADER = 100 << 20; // a header this large means a corrupt length, not a real checkpoint

export async function writeSafetensors(
  file: string,
  tensors: Iterable<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new CheckpointError(file, `tensor ${name}: shape [${t.shape}] does not hold ${t.data.length} values`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: 'int' in t ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    bodies.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  await writeFileAtomic(file, [head, ...bodies]);
}

function widen(file: string, name: string, dtype: string, raw: Uint8Array, n: number): StoredTensor['data'] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size = { F32: 4, I32: 4, I64: 8, F16: 2, BF16: 2 }[dtype];
  if (size === undefined) throw new CheckpointError(file, `tensor ${name}: unsupported dtype ${dtype}`);
  if (raw.length !== n * size) throw new CheckpointError(file, `tensor ${name}: ${raw.length} bytes for ${n} ${dtype} values`);
  if (dtype === 'I32' || dtype === 'I64') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = dtype === 'I32' ? view.getInt32(4 * i, true) : Number(view.getBigInt64(8 * i, true));
      if (!Number.isSafeInteger(v) || v > 2147483647 || v < -2147483648) throw new CheckpointError(file, `tensor ${name}: index ${v} out of int32 range`);
      out[i] = v;
    }
    return out;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'BF16') out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0];
    else out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new CheckpointError(file, `cannot read (${(e as Error).message})`);
  }
  if (buf.length < 8) throw new CheckpointError(file, 'too short to be a safetensors file');
  const len = Number(buf.readBigUInt64LE(0));
  if (len > MAX_HEADER || 8 + len > buf.length) throw new CheckpointError(file, `header length ${len} does not fit the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + len).toString('utf8'));
  } catch (e) {
    throw new CheckpointError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new CheckpointError(file, 'header is not a JSON object');
  const data = buf.subarray(8 + len);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, StoredTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const shape = e?.shape;
    const off = e?.data_offsets;
    if (typeof e?.dtype !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new CheckpointError(file, `tensor ${name}: malformed entry (dtype, shape)`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every(Number.isInteger) || off[0] < 0 || off[1] < off[0] || off[1] > data.length)
      throw new CheckpointError(file, `tensor ${name}: data_offsets ${JSON.stringify(off)} outside the ${data.length} data bytes`);
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    const values = widen(file, name, e.dtype, data.subarray(off[0], off[1]), n);
    tensors.set(name, values instanceof Int32Array ? { data: values, shape: shape as number[], int: true } : { data: values, shape: shape as number[] });
  }
  return { tensors, metadata };
}
