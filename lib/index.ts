export * as ops from './ops/index.js';
export * from './tensor.js';
export { addon, runOp, type OpOptions } from './native.js';
export * from './device.js';
export * from './data/index.js';
export * from './models/index.js';
export * from './infer/index.js';
export * from './train/index.js';
export { Random } from './util/random.js';
