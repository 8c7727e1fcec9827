import test from 'ava';
import { CONTRASTS, CONTRAST_ALIASES, NUM_CONTRASTS, contrastId, contrastName, type ContrastName } from '../../lib/data/contrasts.js';

test('the registry is the spec order and K = 9', (t) => {
  t.deepEqual([...CONTRASTS], ['ADC', 'TRACE', 'T2', 'GRE', 'SWI', 'T1', 'FLAIR', 'T1CE', 'PD']);
  t.is(NUM_CONTRASTS, 9);
  CONTRASTS.forEach((name, k) => t.is(contrastId(name, 'test'), k));
});

test('aliases and letter case map to the registry name', (t) => {
  const cases: [string, ContrastName][] = [
    ['DWI', 'TRACE'],
    ['dwi', 'TRACE'],
    ['T2w', 'T2'],
    ['t1w', 'T1'],
    ['T1c', 'T1CE'],
    ['T1Gd', 'T1CE'],
    ['swan', 'SWI'],
    ['T2star', 'GRE'],
    ['flair', 'FLAIR'],
    ['Adc', 'ADC'],
  ];
  for (const [alias, name] of cases) {
    t.is(contrastName(alias, 'test'), name, alias);
    t.is(contrastId(alias, 'test'), CONTRASTS.indexOf(name));
  }
  t.deepEqual(Object.keys(CONTRAST_ALIASES).sort(), ['DWI', 'SWAN', 'T1C', 'T1GD', 'T1W', 'T2STAR', 'T2W']);
});

test('an unknown name is an error naming it, where it came from, and the accepted names', (t) => {
  const err = t.throws(() => contrastId('T3', "data/dataset.json: case 'a', images"));
  t.true(err!.message.startsWith("data/dataset.json: case 'a', images: unknown contrast 'T3'; accepted: ADC, TRACE, T2, GRE, SWI, T1, FLAIR, T1CE, PD"));
  t.regex(err!.message, /DWI→TRACE/);
  // Names close to a registry name are not guessed.
  t.throws(() => contrastId('T1-CE', 'x'), { message: /unknown contrast 'T1-CE'/ });
  t.throws(() => contrastId('', 'x'), { message: /unknown contrast ''/ });
});
