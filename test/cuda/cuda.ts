// The CUDA surface of the addon as the CUDA tests use it, typed loosely so that these tests load
// (and skip, naming the reason) against any build: one without CUDA, one from before the CUDA API,
// or a CUDA build on a machine without a GPU. `npm run test:cuda` runs them against build-cuda/.
import fs from 'node:fs';
import test, { type ImplementationFn } from 'ava';
import { addon, type OpAttrs, type OpInput } from '../../lib/native.js';

export interface CudaInfo {
  available: boolean;
  reason: string;
  index?: number;
  count?: number;
  name?: string;
  major?: number;
  minor?: number;
  multiprocessors?: number;
  totalMemory?: number;
  freeMemory?: number;
  cublas?: boolean;
}

export type CudaMath = 'f32' | 'bf16';

interface CudaAddon {
  cudaInfo?: () => CudaInfo;
  cudaSetMath?: (math: CudaMath) => void;
  op(
    name: string,
    inputs: Record<string, OpInput>,
    attrs?: OpAttrs,
    outputs?: Record<string, OpInput>,
    options?: { device?: 'cpu' | 'cuda' },
  ): Promise<Record<string, OpInput>>;
}

const native = addon as unknown as CudaAddon;

function readInfo(): CudaInfo {
  if (typeof native.cudaInfo !== 'function') {
    return { available: false, reason: 'this addon has no cudaInfo() (built before the CUDA API)' };
  }
  try {
    const info = native.cudaInfo();
    return info.available ? info : { ...info, reason: info.reason || 'CUDA unavailable (no reason given)' };
  } catch (e) {
    return { available: false, reason: `cudaInfo() threw: ${(e as Error).message}` };
  }
}

/** Read once per process (each ava test file is a process). */
export const info: CudaInfo = readInfo();

export function setMath(math: CudaMath): void {
  if (typeof native.cudaSetMath !== 'function') throw new Error('this addon has no cudaSetMath()');
  native.cudaSetMath(math);
}

/** An op on the GPU: inputs copied in, outputs copied back (see addon.op). */
export function cudaOp(
  name: string,
  inputs: Record<string, OpInput>,
  attrs: OpAttrs = {},
  outputs?: Record<string, OpInput>,
): Promise<Record<string, OpInput>> {
  return native.op(name, inputs, attrs, outputs, { device: 'cuda' });
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
