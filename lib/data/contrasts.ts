// The contrast registry (spec §1). A contrast's index in CONTRASTS is its id k: the models' modality
// codes and embeddings are indexed by it, and a subject's contrasts are always ordered by it, so
// the order here is part of every checkpoint and must never change.

export const CONTRASTS = ['ADC', 'TRACE', 'T2', 'GRE', 'SWI', 'T1', 'FLAIR', 'T1CE', 'PD'] as const;

export type ContrastName = (typeof CONTRASTS)[number];

/** K, the number of contrasts the models know. */
export const NUM_CONTRASTS = CONTRASTS.length;

/** Other names in common use (BIDS suffixes, scanner series names) for registry contrasts. */
export const CONTRAST_ALIASES: Readonly<Record<string, ContrastName>> = {
  DWI: 'TRACE',
  T2W: 'T2',
  T1W: 'T1',
  T1C: 'T1CE',
  T1GD: 'T1CE',
  SWAN: 'SWI',
  T2STAR: 'GRE',
};

const ACCEPTED = `${CONTRASTS.join(', ')} (aliases: ${Object.entries(CONTRAST_ALIASES)
  .map(([alias, name]) => `${alias}→${name}`)
  .join(', ')}; any letter case)`;

/**
 * The id k of a contrast given by its registry name or an alias, in any letter case. `where` says
 * where the name came from (a file and field), for the error an unknown name gets; '' leaves it
 * to a caller that wraps the error with its own context.
 */
export function contrastId(name: string, where: string): number {
  const upper = name.toUpperCase();
  const canonical = CONTRAST_ALIASES[upper] ?? upper;
  const id = (CONTRASTS as readonly string[]).indexOf(canonical);
  if (id < 0) throw new Error(`${where ? `${where}: ` : ''}unknown contrast '${name}'; accepted: ${ACCEPTED}`);
  return id;
}

/** The registry name of a contrast given by any accepted name (see contrastId). */
export function contrastName(name: string, where: string): ContrastName {
  return CONTRASTS[contrastId(name, where)];
}
