// The GEMM-based ops on the GPU with math 'bf16' (bf16 operands on the tensor cores, fp32
// accumulation and storage, the training default) against the CPU's fp32: relative 1e-2
// norm-wise and element-wise with a floor of 2·rms (2e-2 for attention, which chains two products
// around an exp); see test/helpers/parity.ts for why. Other ops do not depend on the math mode.
import test from 'ava';
import { OP_SPECS } from '../helpers/op-cases.js';
import { BF16_ATTENTION_BOUND, BF16_BOUND } from '../helpers/parity.js';
import { cudaTest, info, setMath } from './cuda.js';
import { checkOp, selected } from './parity.js';

test('the bf16 bounds', (t) => {
  t.log(`relative ${BF16_BOUND.rtol} (floor ${BF16_BOUND.floor}·rms), attention ${BF16_ATTENTION_BOUND.rtol}`);
  t.pass();
});

if (info.available) test.before(() => setMath('bf16'));

for (const [op, spec] of Object.entries(OP_SPECS)) {
  if (!spec.gemm || !selected(op)) continue;
  const bound = op.startsWith('attention') ? BF16_ATTENTION_BOUND : BF16_BOUND;
  cudaTest(`bf16 parity: ${op} [gemm]`, async (t) => {
    await checkOp(t, op, await spec.cases(3000), { math: 'bf16', bound });
  });
}
