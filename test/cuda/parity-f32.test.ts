// Every registered op on the GPU against the CPU, math 'f32' (full single precision GEMMs):
// relative 1e-4 norm-wise and element-wise (test/helpers/parity.ts), NaN never passes, with
// NaN-poisoned output buffers as well. AMAE_PARITY_GEMM_ONLY=1 runs only the ops that go through
// the GEMM (scripts/gpu-check.sh uses it for the AMAE_CUDA_GEMM=own pass).
import test from 'ava';
import { addon } from '../../lib/native.js';
import { OP_SPECS, opsWithoutCases } from '../helpers/op-cases.js';
import { F32_BOUND } from '../helpers/parity.js';
import { cudaTest, describeDevice, info, report, setMath } from './cuda.js';
import { checkOp, selected } from './parity.js';

const gemmOnly = !!process.env.AMAE_PARITY_GEMM_ONLY;

test('every registered op has a parity case', (t) => {
  t.deepEqual(opsWithoutCases(), [], 'add cases for these ops to test/helpers/op-cases.ts');
});

test('the CUDA device', (t) => {
  t.log(describeDevice());
  t.log(`addon.build: ${JSON.stringify(addon.build)}; AMAE_CUDA_GEMM=${process.env.AMAE_CUDA_GEMM ?? '(unset)'}`);
  report({ kind: 'device', ...info, build: addon.build });
  if (process.env.AMAE_REQUIRE_CUDA) {
    // The GPU session: a run where every test skipped must not look green.
    t.true(info.available, `AMAE_REQUIRE_CUDA is set but CUDA is unavailable: ${info.reason}`);
    t.true(addon.build.cuda, 'AMAE_REQUIRE_CUDA is set but the addon is not a CUDA build');
  }
  // The run must exercise the GEMM it claims to.
  if (info.available && process.env.AMAE_CUDA_GEMM === 'own') t.false(info.cublas, 'AMAE_CUDA_GEMM=own, yet cudaInfo().cublas is true');
  t.pass();
});

if (info.available) test.before(() => setMath('f32'));

for (const [op, spec] of Object.entries(OP_SPECS)) {
  if ((gemmOnly && !spec.gemm) || !selected(op)) continue;
  cudaTest(`f32 parity: ${op}${spec.gemm ? ' [gemm]' : ''}`, async (t) => {
    await checkOp(t, op, await spec.cases(2000), { math: 'f32', bound: F32_BOUND, poison: true });
  });
}
