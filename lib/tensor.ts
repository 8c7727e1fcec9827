// Tensors as they cross the Node-API boundary: a typed array plus a C-order shape.
// Float tensors carry values; Int32 tensors carry indices (segment offsets, arg-max, gathers).

export interface Tensor {
  data: Float32Array;
  shape: number[];
}

export interface IndexTensor {
  data: Int32Array;
  shape: number[];
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensor(data: Float32Array | number[], shape: number[]): Tensor {
  const d = data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== numel(shape)) {
    throw new RangeError(`tensor: shape [${shape}] needs ${numel(shape)} values, got ${d.length}`);
  }
  return { data: d, shape: [...shape] };
}

export function indices(data: Int32Array | number[], shape: number[] = [data.length]): IndexTensor {
  const d = data instanceof Int32Array ? data : Int32Array.from(data);
  if (d.length !== numel(shape)) {
    throw new RangeError(`indices: shape [${shape}] needs ${numel(shape)} values, got ${d.length}`);
  }
  return { data: d, shape: [...shape] };
}

export function zeros(shape: number[]): Tensor {
  return { data: new Float32Array(numel(shape)), shape: [...shape] };
}
