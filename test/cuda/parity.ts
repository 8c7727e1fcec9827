// The CUDA parity check of one op: every case of test/helpers/op-cases.ts run on the CPU and on
// the GPU with the same inputs, each output compared (test/helpers/parity.ts), plus
//   - the GPU call leaves its inputs alone (except the in-place ops' state, which is compared);
//   - the poisoned run: the device's memory pool is dirtied with NaN first and the call gets
//     NaN-filled output buffers (outputs argument); the result must still match, so every output
//     element is written or zero-initialised (backward ops ADD into their gradients);
//   - whether a repeat run is bit-identical (logged, not required: atomics are allowed).
import type { ExecutionContext } from 'ava';
import type { OpInput } from '../../lib/native.js';
import { type OpCase, cloneInputs, copyOf, cpuOp } from '../helpers/op-cases.js';
import { type Bound, bitEqual, compare, poisoned } from '../helpers/parity.js';
import { cudaOp, report } from './cuda.js';

type Outs = Record<string, OpInput>;

function resultsOf(c: OpCase, inputs: Outs, outputs: Outs): Outs {
  if (!c.inplace) return outputs;
  return Object.fromEntries(c.inplace.map((k) => [k, inputs[k]]));
}

/** Compares every result of one case: passing outputs are logged, failing ones collected. */
function check(t: ExecutionContext, where: string, got: Outs, ref: Outs, bound: Bound, failures: string[]): number {
  const names = Object.keys(ref).sort();
  const gotNames = Object.keys(got).sort();
  if (names.join() !== gotNames.join()) {
    failures.push(`${where}: outputs {${gotNames.join(', ')}}, expected {${names.join(', ')}}`);
    return Infinity;
  }
  let worst = 0;
  for (const n of names) {
    const r = compare(got[n], ref[n], bound, `${where} ${n}`);
    worst = Math.max(worst, r.normRel);
    if (r.ok) t.log(r.message);
    else failures.push(r.message);
  }
  return worst;
}

// 4 Mi floats of NaN through the device and back: the pool's free blocks (if it keeps any) then
// hold NaN where the next op's buffers may land.
const dirt: OpInput = { data: new Float32Array(1 << 22).fill(NaN), shape: [1 << 22] };
async function dirtyDevicePool(): Promise<Outs> {
  return cudaOp('scale_inplace', { x: copyOf(dirt) }, { s: 1 });
}

/** AMAE_PARITY_OPS=a,b,… runs only those ops (a rerun of the failures of a GPU session). */
export function selected(op: string): boolean {
  const only = process.env.AMAE_PARITY_OPS;
  return !only || only.split(',').map((s) => s.trim()).includes(op);
}

export interface ParityOptions {
  math: string;
  bound: Bound;
  /** Also run the poisoned-output check. */
  poison?: boolean;
}

// AVA's assertions throw, so failures are collected and asserted once at the end: every case of
// the op is run and reported (to the log and AMAE_PARITY_REPORT), not just the first bad one.
export async function checkOp(t: ExecutionContext, op: string, cases: OpCase[], { math, bound, poison = false }: ParityOptions): Promise<void> {
  const failures: string[] = [];
  let worst = 0;
  let repeatable = true;
  let repeated = false;
  const call = async (where: string, run: () => Promise<Outs>): Promise<Outs | undefined> => {
    try {
      return await run();
    } catch (e) {
      failures.push(`${where} threw: ${(e as Error).message}`);
      worst = Infinity;
      return undefined;
    }
  };
  for (const c of cases) {
    const where = `${op} (${c.label})`;
    const cpuIn = cloneInputs(c.inputs);
    const ref = resultsOf(c, cpuIn, await cpuOp(op, cpuIn, c.attrs));

    const gpuIn = cloneInputs(c.inputs);
    const out = await call(`${where}: the CUDA call`, () => cudaOp(op, gpuIn, c.attrs));
    if (!out) continue;
    const got = resultsOf(c, gpuIn, out);
    worst = Math.max(worst, check(t, where, got, ref, bound, failures));

    // Inputs that are not the op's state must come back as they went in.
    for (const [k, v] of Object.entries(c.inputs)) {
      if (!c.inplace?.includes(k) && !bitEqual(gpuIn[k], v)) failures.push(`${where}: the CUDA call changed inputs.${k}`);
    }

    if (poison && !c.inplace) {
      if (!(await call('dirtying the device pool (scale_inplace on CUDA)', dirtyDevicePool))) continue;
      const given: Outs = Object.fromEntries(Object.entries(ref).map(([k, v]) => [k, poisoned(v)]));
      const again = await call(`${where}: the CUDA call with NaN-filled output buffers`, () => cudaOp(op, cloneInputs(c.inputs), c.attrs, given));
      if (!again) continue;
      worst = Math.max(worst, check(t, `${where} [poisoned outputs]`, again, ref, bound, failures));
      repeated = true;
      for (const k of Object.keys(ref)) if (again[k] && got[k] && !bitEqual(again[k], got[k])) repeatable = false;
    }
  }
  t.log(`${op}: ${cases.length} cases, worst ‖a−b‖/‖b‖ ${worst.toExponential(2)}` + (repeated ? `, repeat run ${repeatable ? 'bit-identical' : 'NOT bit-identical'}` : ''));
  report({ kind: 'parity', op, math, cases: cases.length, ok: failures.length === 0, worst, bound: bound.rtol, ...(repeated ? { repeatable } : {}) });
  if (failures.length) t.fail(`${failures.length} failure(s):\n${failures.join('\n')}`);
  else t.pass();
}
