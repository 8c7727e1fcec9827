// Numerical checks shared by the op tests: element-wise closeness against a naive reference,
// and a finite-difference gradient check of a forward/backward pair.
import type { ExecutionContext } from 'ava';
import type { Tensor } from '../../lib/tensor.js';
import { rng, randn } from './random.js';

export interface Tolerance {
  rtol?: number;
  atol?: number;
}

/** Passes when every |a − e| ≤ atol + rtol·|e|; on failure names the worst element. */
export function assertClose(
  t: ExecutionContext,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6 }: Tolerance = {},
  label = 'values',
): void {
  if (actual.length !== expected.length) {
    t.fail(`${label}: length ${actual.length} ≠ expected ${expected.length}`);
    return;
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const excess = err - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    t.fail(`${label}[${worst}] = ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  } else {
    t.pass();
  }
}

export interface GradCheckSpec {
  /** The float inputs of the op, as forward and backward receive them. */
  inputs: Record<string, Tensor>;
  /** The inputs (or parameters) whose gradients are checked. */
  wrt: string[];
  forward(inputs: Record<string, Tensor>): Promise<Tensor[]>;
  /** Analytic gradients of L = Σ dOut·out with respect to every name in `wrt`. */
  backward(inputs: Record<string, Tensor>, dOut: Tensor[]): Promise<Record<string, Tensor>>;
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Probe at most this many elements per input (chosen at random). */
  samples?: number;
  seed?: number;
}

/**
 * Central finite differences of L = Σ dOut·out (dOut random, L summed in float64) against the
 * analytic gradient. Ops are deterministic, so outputs the probe does not touch cancel exactly.
 */
export async function gradcheck(t: ExecutionContext, spec: GradCheckSpec): Promise<void> {
  const failures = await gradcheckFailures(spec);
  if (failures.length) t.fail(failures.join('; '));
  else t.pass(`gradients of ${spec.wrt.join(', ')} match finite differences`);
}

/** The gradcheck itself: one message per input whose gradient disagrees (empty when all agree). */
export async function gradcheckFailures(spec: GradCheckSpec): Promise<string[]> {
  const failures: string[] = [];
  const { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 24, seed = 7 } = spec;
  const outs = await spec.forward(spec.inputs);
  const dOut = outs.map((o, i) => randn(o.shape, seed + 101 * (i + 1)));
  const analytic = await spec.backward(spec.inputs, dOut);
  const loss = async (ins: Record<string, Tensor>) => {
    const os = await spec.forward(ins);
    let s = 0;
    os.forEach((o, i) => {
      for (let j = 0; j < o.data.length; j++) s += o.data[j] * dOut[i].data[j];
    });
    return s;
  };
  const pick = rng(seed);
  for (const name of spec.wrt) {
    const x = spec.inputs[name];
    const g = analytic[name];
    if (!g || g.data.length !== x.data.length) {
      failures.push(`no gradient of matching size for ${name}`);
      continue;
    }
    const idx =
      x.data.length <= samples
        ? [...Array(x.data.length).keys()]
        : Array.from({ length: samples }, () => Math.floor(pick() * x.data.length));
    let bad = '';
    for (const i of idx) {
      const orig = x.data[i];
      const probe = (v: number) => {
        const copy = new Float32Array(x.data);
        copy[i] = v;
        return loss({ ...spec.inputs, [name]: { data: copy, shape: x.shape } });
      };
      const hi = orig + eps;
      const lo = orig - eps;
      // Divide by the step actually taken in float32, not the nominal one.
      const numeric = ((await probe(hi)) - (await probe(lo))) / (Math.fround(hi) - Math.fround(lo));
      const a = g.data[i];
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.max(Math.abs(a), Math.abs(numeric)))) {
        bad = `d${name}[${i}]: analytic ${a}, numeric ${numeric}`;
        break;
      }
    }
    if (bad) failures.push(`gradcheck (eps ${eps}, rtol ${rtol}, atol ${atol}) ${bad}`);
  }
  return failures;
}
