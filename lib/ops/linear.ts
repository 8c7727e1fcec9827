// Dense contractions: the fully connected layer and the batched matrix product. Backward
// functions return only the gradients asked for (all of them by default); each comes back freshly
// allocated, so accumulating into a parameter's gradient is the caller's add.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';

/** The gradient a flag (dx, dw, …) asks for: a Tensor when true or left out, nothing when false. */
type Grad<O, K extends string> = K extends keyof O
  ? [O[K]] extends [true | undefined]
    ? Tensor
    : [O[K]] extends [false]
      ? undefined
      : Tensor | undefined
  : Tensor;

/** y[N, out] = x[N, in] · w[out, in]ᵀ + b[out] (PyTorch's nn.Linear; b optional). */
export async function linearForward(x: Tensor, w: Tensor, b?: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('linear_forward', { x, w, b })).y;
}

export interface LinearBackwardOptions {
  dx?: boolean;
  dw?: boolean;
  db?: boolean;
}
export interface LinearGrads<O extends LinearBackwardOptions = LinearBackwardOptions> {
  /** dy · w, shaped like x. */
  dx: Grad<O, 'dx'>;
  /** dyᵀ · x, shaped like w. */
  dw: Grad<O, 'dw'>;
  /** Column sums of dy, [out]. */
  db: Grad<O, 'db'>;
}

/** Gradients of linearForward for the upstream gradient dy[N, out]. */
export async function linearBackward<O extends LinearBackwardOptions = {}>(
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  options?: O,
): Promise<LinearGrads<O>> {
  const { dx = true, dw = true, db = true } = options ?? {};
  const out = await runOp<{ dx?: Tensor; dw?: Tensor; db?: Tensor }>(
    'linear_backward',
    { x, w, dy },
    { dx, dw, db },
  );
  return { dx: out.dx, dw: out.dw, db: out.db } as LinearGrads<O>;
}

export interface MatmulOptions {
  /** a is stored [B, K, M] and used transposed. */
  transA?: boolean;
  /** b is stored [B, N, K] and used transposed. */
  transB?: boolean;
  /** Scales the product (attention's 1/√d); 1 by default. */
  alpha?: number;
}

/** c[B, M, N] = alpha · op(a) · op(b) for each batch entry (see MatmulOptions for the layouts). */
export async function matmulForward(
  a: Tensor,
  b: Tensor,
  { transA = false, transB = false, alpha = 1 }: MatmulOptions = {},
): Promise<Tensor> {
  return (await runOp<{ c: Tensor }>('matmul_forward', { a, b }, { trans_a: transA, trans_b: transB, alpha })).c;
}

export interface MatmulBackwardOptions extends MatmulOptions {
  da?: boolean;
  db?: boolean;
}
export interface MatmulGrads<O extends MatmulBackwardOptions = MatmulBackwardOptions> {
  /** Shaped like a (in a's stored layout). */
  da: Grad<O, 'da'>;
  /** Shaped like b (in b's stored layout). */
  db: Grad<O, 'db'>;
}

/** Gradients of matmulForward for the upstream gradient dc[B, M, N]; pass the same transA/transB/alpha. */
export async function matmulBackward<O extends MatmulBackwardOptions = {}>(
  a: Tensor,
  b: Tensor,
  dc: Tensor,
  options?: O,
): Promise<MatmulGrads<O>> {
  const { transA = false, transB = false, alpha = 1, da = true, db = true } = options ?? {};
  const out = await runOp<{ da?: Tensor; db?: Tensor }>(
    'matmul_backward',
    { a, b, dc },
    { trans_a: transA, trans_b: transB, alpha, da, db },
  );
  return { da: out.da, db: out.db } as MatmulGrads<O>;
}
