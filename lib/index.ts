export * as ops from './ops/index.js';
export * from './tensor.js';
export { addon } from './native.js';
export * from './data/index.js';
