import test from 'ava';
import { execFileSync } from 'node:child_process';
import { pythonHas, systemPython } from '../../bench/util.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CheckpointError, readSafetensors, writeSafetensors } from '../../lib/models/safetensors.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'amae-st-'));

test('round trip: float and index tensors, metadata, odd sizes', async (t) => {
  const file = path.join(tmp(), 'w.safetensors');
  const a = { data: Float32Array.from([1.5, -2, 3.25]), shape: [3] };
  const b = { data: Int32Array.from([7, -1]), shape: [1, 2], int: true as const };
  const e = { data: new Float32Array(0), shape: [0, 4] };
  await writeSafetensors(file, [['vit.a', a], ['idx', b], ['empty', e]], { kind: 'amae', config: '{"x":1}' });
  const back = await readSafetensors(file);
  t.deepEqual(back.metadata, { kind: 'amae', config: '{"x":1}' });
  t.deepEqual(back.tensors.get('vit.a'), a);
  t.deepEqual(back.tensors.get('idx'), b);
  t.deepEqual(back.tensors.get('empty'), e);
  // The header is padded so that tensor data starts 8-byte aligned.
  const bytes = fs.readFileSync(file);
  t.is(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  t.deepEqual(fs.readdirSync(path.dirname(file)), ['w.safetensors'], 'no partial file left behind');
});

test('F16 and BF16 tensors are widened to float32', async (t) => {
  const file = path.join(tmp(), 'h.safetensors');
  const header = JSON.stringify({ h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [1], data_offsets: [6, 8] } });
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(header.length));
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 0.5 = 0x3800; BF16: 3.0 = 0x4040.
  const body = Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x40, 0x40]);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header), body]));
  const { tensors } = await readSafetensors(file);
  t.deepEqual(Array.from(tensors.get('h')!.data), [1, -2, 0.5]);
  t.deepEqual(Array.from(tensors.get('b')!.data), [3]);
});

test('corrupt files give errors naming the file and the tensor', async (t) => {
  const dir = tmp();
  const write = (name: string, bytes: Buffer) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    return f;
  };
  const withHeader = (h: string, body = Buffer.alloc(0)) => {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
    return Buffer.concat([head, Buffer.from(h), body]);
  };
  const cases: [string, Buffer, RegExp][] = [
    ['short', Buffer.from([1, 2]), /short\.st: too short/],
    ['len', Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1]), /len\.st: header length \d+ does not fit/],
    ['json', withHeader('{nope'), /json\.st: header is not valid JSON/],
    ['offsets', withHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', Buffer.alloc(4)), /offsets\.st: tensor w: data_offsets \[0,8\] outside/],
    ['size', withHeader('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', Buffer.alloc(8)), /size\.st: tensor w: 8 bytes for 3 F32 values/],
    ['dtype', withHeader('{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}', Buffer.alloc(8)), /dtype\.st: tensor w: unsupported dtype C64/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.throwsAsync(readSafetensors(write(`${name}.st`, bytes)), { instanceOf: CheckpointError, message });
  }
  await t.throwsAsync(readSafetensors(path.join(dir, 'missing.st')), { message: /missing\.st: cannot read/ });
});

const haveSafetensors = pythonHas('safetensors', 'numpy');
(haveSafetensors ? test : test.skip)('files read back with the reference python safetensors package', async (t) => {
  const file = path.join(tmp(), 'p.safetensors');
  await writeSafetensors(file, [['x', { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] }]], { kind: 'amae' });
  const out = execFileSync(systemPython, ['-c', `from safetensors.numpy import load_file\nimport sys\nd=load_file(sys.argv[1])\nprint(d['x'].tolist())`, file], { encoding: 'utf8' });
  t.is(out.trim(), '[[1.0, 2.0], [3.0, 4.0]]');
});
if (!haveSafetensors) console.log('safetensors.test: python3 safetensors package not installed; the cross-check is skipped');
