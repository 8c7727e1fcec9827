// Inference over whole volumes: MONAI-compatible sliding windows and a segmentation model over them.
export { type SegmentOptions, segmentVolume } from './segment.js';
export { type SlidingWindowOptions, type WindowPredictor, slidingWindowInference } from './sliding-window.js';
