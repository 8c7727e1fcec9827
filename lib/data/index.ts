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
export { CONTRASTS, CONTRAST_ALIASES, NUM_CONTRASTS, contrastId, contrastName, type ContrastName } from './contrasts.js';
export {
  CaseError,
  DEFAULT_REFERENCE_ORDER,
  loadSubject,
  toOriginalGrid,
  type ImageRef,
  type Subject,
  type SubjectContrast,
  type SubjectOptions,
  type SubjectSpec,
} from './subject.js';
export {
  prepareSubject,
  restore,
  type PreparedContrast,
  type PreparedSubject,
  type PreprocessOptions,
  type PreprocessRecord,
} from './preprocess.js';
export { DatasetError, SPLITS, openDataset, type Dataset, type DatasetKind, type Split } from './dataset.js';
export { type AugmentOptions, type CropMode, type ModalityDropout, type Sample, type SampleContrast } from './augment.js';
export { SubjectCache, createLoader, type Batch, type Loader, type LoaderOptions, type LoaderStats } from './loader.js';
export { LoaderClosedError } from './pool.js';
export { synthSubject, writeSynthDataset, SPLIT, type DatasetJson, type DatasetJsonCase, type SynthOptions, type SynthSubject } from './synth.js';
export { TISSUES, type Tissue, type TissueMaps } from './synth-anatomy.js';
