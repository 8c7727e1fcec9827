// `npm run bench unetr`: see bench/seg.ts.
import { benchSegmentation } from './seg.js';
import type { Emit } from './util.js';

export default (emit: Emit) => benchSegmentation('unetr', emit);
