export const CONTRASTS = ['ADC','TRACE','T2','GRE','SWI','T1','FLAIR','T1CE','PD'] as const;
export type ContrastName = typeof CONTRASTS[number];
