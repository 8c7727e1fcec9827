// `npm run bench unet`: see bench/seg.ts.
import { benchSegmentation } from './seg.js';
import type { Emit } from './util.js';

export default (emit: Emit) => benchSegmentation('unet', emit);
