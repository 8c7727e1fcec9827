// Data sets (spec §5): amae's dataset.json, a Medical Segmentation Decathlon dataset.json, or an
// ISLES'22 BIDS folder, all read into one form: cases (SubjectSpec, files as absolute paths,
// contrasts by registry name) in splits. Opening checks every case and that every file exists,
// so a mistake in case 80 fails at once rather than hours into training; the images themselves
// are read only when a subject is loaded.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CONTRASTS, contrastName, type ContrastName } from './contrasts.js';
import { CaseError, type ImageRef, type SubjectSpec } from './subject.js';

export type DatasetKind = 'amae' | 'msd' | 'isles22-bids';

export const SPLITS = ['training', 'validation', 'test', 'unlabeled'] as const;
export type Split = (typeof SPLITS)[number];

export interface Dataset {
  kind: DatasetKind;
  name: string;
  /** The dataset.json file, or the BIDS folder: errors name it, and loadSubject takes it as
   * `where`. */
  source: string;
  /** The contrasts the cases use, in registry order (for amae's format: as declared, if it does). */
  contrasts: ContrastName[];
  training: SubjectSpec[];
  validation: SubjectSpec[];
  test: SubjectSpec[];
  unlabeled: SubjectSpec[];
}

/** A problem with a data set outside any one identified case (the file itself, a top-level field,
 * or a case without a usable id). */
export class DatasetError extends Error {
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: ${field ? `${field}: ` : ''}${detail}`);
    this.name = 'DatasetError';
  }
}

/**
 * Opens a data set, recognising its kind: a folder holding dataset.json, or such a file itself —
 * Medical Segmentation Decathlon when it has "modality", amae's format otherwise — or a folder of
 * ISLES'22 BIDS subjects (sub-*).
 */
export async function openDataset(location: string): Promise<Dataset> {
  const info = await stat(location).catch(() => {
    throw new DatasetError(location, '', 'no such file or folder');
  });
  if (info.isDirectory()) {
    const json = path.join(location, 'dataset.json');
    if (await isFile(json)) return openDataset(json);
    const entries = await readdir(location);
    if (entries.some((e) => e.startsWith('sub-'))) return readIsles22Bids(location);
    throw new DatasetError(location, '', 'neither a dataset.json nor sub-* folders (ISLES\'22 BIDS) in this folder');
  }
  const root = await readJson(location);
  return 'modality' in root ? msdDataset(location, root) : amaeDataset(location, root);
}

// ---------------------------------------------------------------------------------------------
// amae's dataset.json

const CASE_FIELDS = ['id', 'images', 'label'];

/**
 * amae's format: {"name", "contrasts"?, "training", "validation"?, "test"?, "unlabeled"?}, each
 * split a list of {"id", "images": {CONTRAST: path}, "label"?}, paths relative to the file.
 * Training and validation cases need a label and unlabeled ones must not have one. Unknown keys
 * in a case are errors (a misspelt "label" would silently drop it); at the top level they are
 * allowed, for descriptions and licences.
 */
async function amaeDataset(file: string, root: Record<string, unknown>): Promise<Dataset> {
  const name = root.name;
  if (typeof name !== 'string' || name === '') throw new DatasetError(file, 'name', `must be a non-empty string, got ${kindOf(name)}`);
  let declared: ContrastName[] | null = null;
  if (root.contrasts !== undefined) {
    if (!Array.isArray(root.contrasts)) throw new DatasetError(file, 'contrasts', `must be a list of contrast names, got ${kindOf(root.contrasts)}`);
    declared = root.contrasts.map((c, i) => {
      if (typeof c !== 'string') throw new DatasetError(file, `contrasts[${i}]`, `must be a contrast name, got ${kindOf(c)}`);
      return contrastAt(c, file, `contrasts[${i}]`);
    });
    const dup = declared.find((c, i) => declared!.indexOf(c) !== i);
    if (dup) throw new DatasetError(file, 'contrasts', `${dup} is listed twice`);
  }
  if (root.training === undefined) throw new DatasetError(file, 'training', 'is missing (a list of cases)');

  const dir = path.dirname(file);
  const ids = new Map<string, string>();
  const splits = {} as Record<Split, SubjectSpec[]>;
  for (const split of SPLITS) {
    const list = root[split];
    if (list === undefined) {
      splits[split] = [];
      continue;
    }
    if (!Array.isArray(list)) throw new DatasetError(file, split, `must be a list of cases, got ${kindOf(list)}`);
    splits[split] = list.map((entry, i) => {
      const at = `${split}[${i}]`;
      if (!isObject(entry)) throw new DatasetError(file, at, `must be a case object {"id", "images", "label"?}, got ${kindOf(entry)}`);
      const id = entry.id;
      if (typeof id !== 'string' || id === '') throw new DatasetError(file, `${at}.id`, `must be a non-empty string, got ${kindOf(id)}`);
      claimId(ids, id, at, file);
      const fail = (field: string, detail: string) => new CaseError(file, id, field, detail);
      const extra = Object.keys(entry).find((k) => !CASE_FIELDS.includes(k));
      if (extra) throw fail(extra, `unknown field (a case has ${CASE_FIELDS.map((f) => `"${f}"`).join(', ')})`);
      if (!isObject(entry.images)) throw fail('images', `must be an object {CONTRAST: path}, got ${kindOf(entry.images)}`);
      const images: Record<string, ImageRef> = {};
      const given = new Map<ContrastName, string>();
      for (const [key, p] of Object.entries(entry.images)) {
        const field = `images.${key}`;
        let contrast: ContrastName;
        try {
          contrast = contrastName(key, '');
        } catch (e) {
          throw fail(field, (e as Error).message);
        }
        if (given.has(contrast)) throw fail(field, `images.${given.get(contrast)} is the same contrast (${contrast})`);
        given.set(contrast, key);
        if (declared && !declared.includes(contrast)) throw fail(field, `${contrast} is not among the data set's contrasts [${declared.join(', ')}]`);
        if (typeof p !== 'string' || p === '') throw fail(field, `must be a file path, got ${kindOf(p)}`);
        images[contrast] = path.resolve(dir, p);
      }
      if (given.size === 0) throw fail('images', 'no contrast given');
      const spec: SubjectSpec = { id, images: sortImages(images) };
      if (entry.label !== undefined) {
        if (typeof entry.label !== 'string' || entry.label === '') throw fail('label', `must be a file path, got ${kindOf(entry.label)}`);
        if (split === 'unlabeled') throw fail('label', 'an unlabeled case has no label (move the case to "training", "validation" or "test")');
        spec.label = path.resolve(dir, entry.label);
      } else if (split === 'training' || split === 'validation') {
        throw fail('label', `is missing: a ${split} case needs one (cases without labels go in "unlabeled")`);
      }
      return spec;
    });
  }
  const dataset: Dataset = { kind: 'amae', name, source: file, contrasts: declared ? sortContrasts(declared) : usedContrasts(splits), ...splits };
  await checkFilesExist(dataset);
  return dataset;
}

// ---------------------------------------------------------------------------------------------
// Medical Segmentation Decathlon

/**
 * The Decathlon's dataset.json: "modality" names the channels of the (4D) images, "training" lists
 * {"image", "label"}, "test" lists image paths; paths are relative to the file. A case's id is its
 * image's file name without the extension. There is no validation split.
 */
async function msdDataset(file: string, root: Record<string, unknown>): Promise<Dataset> {
  const modality = root.modality;
  if (!isObject(modality)) throw new DatasetError(file, 'modality', `must be an object {"0": CONTRAST, …}, got ${kindOf(modality)}`);
  const keys = Object.keys(modality);
  const channels = keys.map((_, c) => {
    const field = `modality.${c}`;
    const value = modality[String(c)];
    if (value === undefined) throw new DatasetError(file, 'modality', `keys must be the channels 0…${keys.length - 1}, got ${keys.join(', ')}`);
    if (typeof value !== 'string') throw new DatasetError(file, field, `must be a contrast name, got ${kindOf(value)}`);
    return contrastAt(value, file, field);
  });
  const dup = channels.find((c, i) => channels.indexOf(c) !== i);
  if (dup) throw new DatasetError(file, 'modality', `two channels are ${dup}`);

  const dir = path.dirname(file);
  const ids = new Map<string, string>();
  const caseOf = (image: unknown, at: string, field: string): SubjectSpec => {
    if (typeof image !== 'string' || image === '') throw new DatasetError(file, `${at}${field}`, `must be a file path, got ${kindOf(image)}`);
    const id = path.basename(image).replace(/\.nii(\.gz)?$/i, '');
    claimId(ids, id, at, file);
    const full = path.resolve(dir, image);
    const images: Record<string, ImageRef> = {};
    channels.forEach((contrast, channel) => (images[contrast] = { file: full, channel }));
    return { id, images: sortImages(images) };
  };

  if (!Array.isArray(root.training)) throw new DatasetError(file, 'training', `must be a list of {"image", "label"}, got ${kindOf(root.training)}`);
  const training = root.training.map((entry, i) => {
    const at = `training[${i}]`;
    if (!isObject(entry)) throw new DatasetError(file, at, `must be {"image", "label"}, got ${kindOf(entry)}`);
    const spec = caseOf(entry.image, at, '.image');
    if (typeof entry.label !== 'string' || entry.label === '') throw new CaseError(file, spec.id, 'label', `must be a file path, got ${kindOf(entry.label)}`);
    spec.label = path.resolve(dir, entry.label);
    return spec;
  });
  const testList = root.test ?? [];
  if (!Array.isArray(testList)) throw new DatasetError(file, 'test', `must be a list of image paths, got ${kindOf(testList)}`);
  const test = testList.map((image, i) => caseOf(image, `test[${i}]`, ''));
  const name = typeof root.name === 'string' && root.name !== '' ? root.name : path.basename(dir);
  const dataset: Dataset = { kind: 'msd', name, source: file, contrasts: sortContrasts(channels), training, validation: [], test, unlabeled: [] };
  await checkFilesExist(dataset);
  return dataset;
}

// ---------------------------------------------------------------------------------------------
// ISLES'22 BIDS

// The images of a session: a file name suffix within a BIDS datatype folder.
const BIDS_IMAGES: { folder: string; suffix: string; contrast: ContrastName }[] = [
  { folder: 'dwi', suffix: '_dwi', contrast: 'TRACE' },
  { folder: 'dwi', suffix: '_adc', contrast: 'ADC' },
  { folder: 'anat', suffix: '_FLAIR', contrast: 'FLAIR' },
];
const NIFTI_EXT = /\.nii(\.gz)?$/;

/**
 * A BIDS folder as ISLES'22 releases it: sub-*\/ses-*\/dwi/*_dwi.nii.gz (the trace, b = 1000),
 * *_adc.nii.gz, anat/*_FLAIR.nii.gz, and lesion masks anywhere under derivatives/ named
 * <sub>_<ses>_msk.nii.gz. One case per session, its id the "sub-…_ses-…" prefix; sessions with a
 * mask are training cases, the others unlabeled.
 */
async function readIsles22Bids(root: string): Promise<Dataset> {
  const masks = new Map<string, string>();
  for (const file of await filesUnder(path.join(root, 'derivatives'))) {
    const m = /^(sub-[^_]+_ses-[^_]+)_msk\.nii(\.gz)?$/.exec(path.basename(file));
    if (!m) continue;
    if (masks.has(m[1])) throw new DatasetError(root, path.relative(root, file), `a second mask for ${m[1]} (also ${path.relative(root, masks.get(m[1])!)})`);
    masks.set(m[1], file);
  }

  const cases: SubjectSpec[] = [];
  for (const sub of (await readdir(root)).filter((e) => e.startsWith('sub-')).sort()) {
    const subDir = path.join(root, sub);
    if (!(await stat(subDir)).isDirectory()) continue;
    for (const ses of (await readdir(subDir)).filter((e) => e.startsWith('ses-')).sort()) {
      const id = `${sub}_${ses}`;
      const images: Record<string, ImageRef> = {};
      for (const { folder, suffix, contrast } of BIDS_IMAGES) {
        const dir = path.join(subDir, ses, folder);
        const found = (await readdir(dir).catch(() => [] as string[])).filter((f) => NIFTI_EXT.test(f) && f.replace(NIFTI_EXT, '').endsWith(suffix));
        if (found.length > 1) throw new CaseError(root, id, `${folder}/*${suffix}`, `several files match: ${found.join(', ')}`);
        if (found.length === 1) images[contrast] = path.join(dir, found[0]);
      }
      if (Object.keys(images).length === 0) {
        throw new CaseError(root, id, 'images', `no ${BIDS_IMAGES.map((b) => `${b.folder}/*${b.suffix}.nii.gz`).join(', ')} in ${path.join(sub, ses)}`);
      }
      const spec: SubjectSpec = { id, images: sortImages(images) };
      const mask = masks.get(id);
      if (mask) {
        spec.label = mask;
        masks.delete(id);
      }
      cases.push(spec);
    }
  }
  const orphan = masks.values().next().value;
  if (orphan) throw new DatasetError(root, path.relative(root, orphan), 'a mask for a session that has no images');
  if (cases.length === 0) throw new DatasetError(root, '', 'no sub-*/ses-* sessions');
  const splits = { training: cases.filter((c) => c.label), validation: [], test: [], unlabeled: cases.filter((c) => !c.label) };
  return { kind: 'isles22-bids', name: path.basename(path.resolve(root)), source: root, contrasts: usedContrasts(splits), ...splits };
}

// ---------------------------------------------------------------------------------------------

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError(file, '', code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    throw new DatasetError(file, '', `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(root)) throw new DatasetError(file, '', `must hold a JSON object, not ${kindOf(root)}`);
  return root;
}

/** contrastName, its error a DatasetError naming the field. */
function contrastAt(name: string, source: string, field: string): ContrastName {
  try {
    return contrastName(name, '');
  } catch (e) {
    throw new DatasetError(source, field, (e as Error).message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How a JSON value is described in an error. */
function kindOf(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return v === '' ? 'an empty string' : `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'an object';
  return `the ${typeof v} ${String(v)}`;
}

function claimId(ids: Map<string, string>, id: string, at: string, file: string): void {
  const first = ids.get(id);
  if (first) throw new CaseError(file, id, 'id', `also the id of ${first}: ids must be unique across all splits`);
  ids.set(id, at);
}

/** Images keyed in registry order, so that every consumer sees contrasts in one order. */
function sortImages(images: Record<string, ImageRef>): Record<string, ImageRef> {
  return Object.fromEntries(CONTRASTS.filter((c) => c in images).map((c) => [c, images[c]]));
}

function sortContrasts(names: ContrastName[]): ContrastName[] {
  return CONTRASTS.filter((c) => names.includes(c));
}

function usedContrasts(splits: Record<Split, SubjectSpec[]>): ContrastName[] {
  const used = new Set(SPLITS.flatMap((s) => splits[s].flatMap((c) => Object.keys(c.images))));
  return CONTRASTS.filter((c) => used.has(c));
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Every file under a folder, recursively; none when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)])));
  return nested.flat();
}

/** Every image and label a data set names must be a file; the first that is not is an error. */
async function checkFilesExist(dataset: Dataset): Promise<void> {
  for (const split of SPLITS) {
    for (const spec of dataset[split]) {
      const refs: [string, ImageRef][] = [...Object.entries(spec.images).map(([c, r]) => [`images.${c}`, r] as [string, ImageRef])];
      if (spec.label) refs.push(['label', spec.label]);
      const missing = await Promise.all(refs.map(async ([, r]) => !(await isFile(typeof r === 'string' ? r : r.file))));
      const at = missing.indexOf(true);
      if (at >= 0) {
        const [field, ref] = refs[at];
        throw new CaseError(dataset.source, spec.id, field, `${typeof ref === 'string' ? ref : ref.file}: no such file`);
      }
    }
  }
}
