// The low-level op API: each native op's forward and backward as typed async functions.
// Users compose these into their own models; amae's models use the same ops natively.
export * from './activation.js';
export * from './attention.js';
export * from './conv.js';
export * from './layernorm.js';
export * from './linear.js';
export * from './loss.js';
export * from './norm.js';
export * from './optim.js';
export * from './patch_embed.js';
export * from './pool.js';
export * from './sequence.js';
