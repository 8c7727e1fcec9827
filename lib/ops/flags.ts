// Gradient requests as op attributes: unset entries are left out, so the op's defaults apply.
import type { OpAttrs } from '../native.js';

export function flags(want: Record<string, boolean | undefined>): OpAttrs {
  const attrs: OpAttrs = {};
  for (const [k, v] of Object.entries(want)) if (v !== undefined) attrs[k] = v;
  return attrs;
}
