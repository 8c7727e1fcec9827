// The CUDA surface of the addon as the CUDA tests use it. They load against any build and skip,
// naming cudaInfo()'s reason, where CUDA cannot run (a CPU-only build, or a CUDA build on a machine
// without a GPU). `npm run test:cuda` runs them against build-cuda/.
import fs from 'node:fs';
import test, { type ImplementationFn } from 'ava';
import { type CudaInfo, type CudaMath, cudaInfo, setCudaMath } from '../../lib/device.js';
import { addon, type OpAttrs, type OpInput } from '../../lib/native.js';

/** Read once per process (each ava test file is a process); cudaInfo() never throws. */
export const info: CudaInfo = cudaInfo();

export function setMath(math: CudaMath): void {
  setCudaMath(math);
}

/** An op on the GPU: inputs copied in, outputs copied back (see addon.op). */
export function cudaOp(
  name: string,
  inputs: Record<string, OpInput>,
  attrs: OpAttrs = {},
  outputs?: Record<string, OpInput>,
): Promise<Record<string, OpInput>> {
  return addon.op(name, inputs, attrs, outputs, { device: 'cuda' });
}

/**
 * A test that needs the GPU: serial (the math mode is process-wide, and a failure should not
 * depend on what ran beside it), or skipped with the reason in its title when CUDA is unavailable.
 */
export function cudaTest(title: string, impl: ImplementationFn<[]>): void {
  if (info.available) test.serial(title, impl);
  else test.skip(`${title} — skipped: ${info.reason}`, impl);
}

/** One line of the parity report (AMAE_PARITY_REPORT=file appends JSON lines; scripts/gpu-check.sh reads them). */
export function report(record: Record<string, unknown>): void {
  const file = process.env.AMAE_PARITY_REPORT;
  if (file) fs.appendFileSync(file, `${JSON.stringify({ gemm: process.env.AMAE_CUDA_GEMM ?? 'default', ...record })}\n`);
}

export function describeDevice(): string {
  if (!info.available) return `CUDA unavailable: ${info.reason}`;
  const gib = (b?: number) => (b === undefined ? '?' : (b / 2 ** 30).toFixed(1));
  return (
    `${info.name} (sm_${info.major}${info.minor}, ${info.multiprocessors} SMs, ${gib(info.freeMemory)} of ${gib(info.totalMemory)} GiB free), ` +
    `device ${info.index} of ${info.count}, GEMMs through ${info.cublas ? 'cuBLAS' : "amae's own kernels"}`
  );
}
