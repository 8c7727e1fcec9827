// The low-level op API: each native op's forward and backward as typed async functions.
// Users compose these into their own models; amae's models use the same ops natively.
export * from './activation.js';
export * from './linear.js';
