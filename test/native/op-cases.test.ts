// The CUDA parity cases (test/helpers/op-cases.ts) stay valid where no GPU is: every registered op
// has cases, and each case runs on the CPU to finite outputs (a case the CPU rejects, or one whose
// reference is NaN, would make the GPU session's parity run meaningless).
import test from 'ava';
import { addon } from '../../lib/native.js';
import { OP_SPECS, cloneInputs, cpuOp, opsWithoutCases } from '../helpers/op-cases.js';

test('every registered op has parity cases, and every case names a registered op', (t) => {
  t.deepEqual(opsWithoutCases(), [], 'add cases for these ops to test/helpers/op-cases.ts');
  const registered = new Set(addon.opList().map((o) => o.name));
  t.deepEqual(Object.keys(OP_SPECS).filter((n) => !registered.has(n)), []);
});

for (const [op, spec] of Object.entries(OP_SPECS)) {
  test(`parity cases of ${op} run on the CPU to finite outputs`, async (t) => {
    const cases = await spec.cases(1000);
    t.true(cases.length > 0);
    for (const c of cases) {
      const inputs = cloneInputs(c.inputs);
      const out = await cpuOp(op, inputs, c.attrs);
      const results = c.inplace ? c.inplace.map((k) => [k, inputs[k]] as const) : Object.entries(out);
      t.true(results.length > 0, `${op} (${c.label}) has something to compare`);
      for (const [name, v] of results) {
        const nonFinite = Array.prototype.findIndex.call(v.data, (x: number) => !Number.isFinite(x));
        t.is(nonFinite, -1, `${op} (${c.label}): ${name}[${nonFinite}] is not finite`);
      }
    }
  });
}
