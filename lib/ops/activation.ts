// Element-wise activations. Backward functions return the gradient w.r.t. the input.
import { runOp } from '../native.js';
import type { Tensor } from '../tensor.js';

/** y = x·Φ(x) (exact erf GELU). */
export async function geluForward(x: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('gelu_forward', { x })).y;
}
export async function geluBackward(x: Tensor, dy: Tensor): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('gelu_backward', { x, dy })).dx;
}

/** y = x > 0 ? x : slope·x (MONAI's default slope 0.01). */
export async function leakyReluForward(x: Tensor, slope = 0.01): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('leaky_relu_forward', { x }, { slope })).y;
}
/** Takes the forward output y (its sign is x's for slope > 0). */
export async function leakyReluBackward(y: Tensor, dy: Tensor, slope = 0.01): Promise<Tensor> {
  return (await runOp<{ dx: Tensor }>('leaky_relu_backward', { y, dy }, { slope })).dx;
}

/** y = a + b (same shapes): the residual add. Its gradient is dy for both a and b. */
export async function addForward(a: Tensor, b: Tensor): Promise<Tensor> {
  return (await runOp<{ y: Tensor }>('add_forward', { a, b })).y;
}
