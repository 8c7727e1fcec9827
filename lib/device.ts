// Where amae computes: the CPU (always) or a CUDA GPU (a build with AMAE_CUDA=1 on a machine with
// an NVIDIA driver and device). A model is placed on a device when it is created
// (createAmae(config, { device })); single ops run on one per call (runOp(..., { device })).

import { addon } from './native.js';

export type Device = 'cpu' | 'cuda';

/** How CUDA GEMMs multiply: 'f32' (full single precision, CPU parity) or 'bf16' (bf16 operands on
 * the tensor cores, fp32 accumulation; the default). */
export type CudaMath = 'f32' | 'bf16';

/** The CUDA device as this build and machine see it. */
export interface CudaInfo {
  /** CUDA can run here: a CUDA build, a driver and a device. */
  available: boolean;
  /** Why not, when unavailable ('' when available). */
  reason: string;
  /** The selected device (-1 when there is none). */
  index: number;
  /** Devices found. */
  count: number;
  name: string;
  /** Compute capability. */
  major: number;
  minor: number;
  multiprocessors: number;
  /** Bytes. */
  totalMemory: number;
  freeMemory: number;
  /** GEMMs go through cuBLAS (else amae's own kernels). */
  cublas: boolean;
}

/** The CUDA device: whether it can run here (and why not), and what it is. Never throws. */
export function cudaInfo(): CudaInfo {
  return addon.cudaInfo();
}

/** Why CUDA cannot run here, or null when it can. */
export function cudaUnavailableReason(): string | null {
  const info = addon.cudaInfo();
  return info.available ? null : info.reason || 'CUDA is not usable here';
}

/** Makes device `index` the one every later CUDA call runs on (before its first use; default 0). */
export function selectCuda(index: number): void {
  addon.cudaSelect(index);
}

/** Sets how CUDA GEMMs multiply, for the whole process (no effect on the CPU). */
export function setCudaMath(mode: CudaMath): void {
  addon.cudaSetMath(mode);
}

export function cudaMath(): CudaMath {
  return addon.cudaMath();
}

/**
 * Checks a device option: a TypeError or RangeError naming `what` unless it is 'cpu' or 'cuda',
 * and for 'cuda' an Error with cudaInfo()'s reason when CUDA cannot run here.
 */
export function requireDevice(device: unknown, what = 'device'): Device {
  if (typeof device !== 'string') throw new TypeError(`${what} must be 'cpu' or 'cuda'`);
  if (device !== 'cpu' && device !== 'cuda') throw new RangeError(`${what} must be 'cpu' or 'cuda', got '${device}'`);
  if (device === 'cuda') {
    const reason = cudaUnavailableReason();
    if (reason !== null) throw new Error(`${what} 'cuda': ${reason}`);
  }
  return device;
}
