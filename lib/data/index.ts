// The data layer's public API.
export * from './volume.js';
export { NiftiError, type NiftiHeader, type DatatypeInfo, type AffineSource, headerAffine, headerScaling, headerShape } from './nifti-header.js';
export { readNifti, readNiftiChannels, readNiftiHeader, writeNifti, type WriteOptions, MAX_VOXEL_BYTES } from './nifti.js';
export { asClosestCanonical, axisOrientation, orientationCode, type AxisDirection, type Orientation } from './orientation.js';
export { resample, resampleToSpacing, type Interpolation, type ResampleOptions } from './resample.js';
export { applyAffine, invertAffine, matmul4 } from './affine.js';
export { percentiles } from './stats.js';
export { encodePng } from './png.js';
export { midSlicePreview, type GrayImage } from './preview.js';
export { describeNifti, type NiftiDescription } from './describe.js';
export { synthSubject, writeSynthDataset, SPLIT, type Dataset, type DatasetCase, type SynthOptions, type SynthSubject } from './synth.js';
export { TISSUES, type Tissue, type TissueMaps } from './synth-anatomy.js';
