// `npm run bench adaptive-unetr`: see bench/seg.ts.
import { benchSegmentation } from './seg.js';
import type { Emit } from './util.js';

export default (emit: Emit) => benchSegmentation('adaptive-unetr', emit);
