// `amae inspect FILE [--json] [--png OUT]`: what a NIfTI file holds — its header, geometry and
// value range — as text for people or JSON for scripts, and optionally a picture of it.

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { headerAffine, headerScaling, headerShape, type NiftiHeader } from '../data/nifti-header.js';
import { readNiftiChannels, readNiftiHeader } from '../data/nifti.js';
import { orientationCode } from '../data/orientation.js';
import { encodePng } from '../data/png.js';
import { midSlicePreview } from '../data/preview.js';
import { affineSpacing, type Volume } from '../data/volume.js';
import { UsageError } from './errors.js';

export const INSPECT_USAGE = `inspect FILE [--json] [--png OUT]
      header, geometry and value range of a NIfTI file; --png writes its middle sagittal,
      coronal and axial slices (the first volume of a 4D file) to OUT`;

export interface InspectReport {
  file: string;
  format: 'NIfTI-1' | 'NIfTI-2';
  byteOrder: 'little-endian' | 'big-endian';
  /** The spatial dims followed by any further ones, as stored (dim[1..dim[0]]). */
  dims: number[];
  /** 3D volumes in the file (the product of dims 4–7). */
  volumes: number;
  datatype: string;
  datatypeCode: number;
  /** mm, from the affine. */
  voxelSize: number[];
  /** scl_slope and scl_inter as stored (null where the header holds NaN). */
  sclSlope: number | null;
  sclInter: number | null;
  /** Whether the values below had that scaling applied (a slope of 0 or NaN means none). */
  scaled: boolean;
  orientation: string;
  affineFrom: 'sform' | 'qform' | 'pixdim';
  qformCode: number;
  sformCode: number;
  affine: number[][];
  /** Over every voxel of every volume, after scaling. */
  min: number;
  max: number;
  mean: number;
  /** Where the preview was written, with --png. */
  png?: string;
}

function parse(args: string[]): { file: string; json: boolean; png?: string } {
  let parsed;
  try {
    const options = { json: { type: 'boolean' }, png: { type: 'string' } } as const;
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    // Node's parseArgs messages run on with advice about '--'; their first sentence says it all.
    const first = (e as Error).message.split('. ')[0];
    throw new UsageError(`${first}; usage: amae ${INSPECT_USAGE}`);
  }
  if (parsed.positionals.length !== 1) {
    throw new UsageError(`expected one FILE, got ${parsed.positionals.length}; usage: amae ${INSPECT_USAGE}`);
  }
  return { file: parsed.positionals[0], json: parsed.values.json ?? false, png: parsed.values.png };
}

export async function inspectFile(file: string): Promise<{ report: InspectReport; volumes: Volume[] }> {
  const header: NiftiHeader = await readNiftiHeader(file);
  const volumes = await readNiftiChannels(file);
  const { affine, from } = headerAffine(header, file);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  for (const v of volumes) {
    for (const x of v.data) {
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
    }
    n += v.data.length;
  }
  const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);
  const report: InspectReport = {
    file,
    format: header.version === 1 ? 'NIfTI-1' : 'NIfTI-2',
    byteOrder: header.littleEndian ? 'little-endian' : 'big-endian',
    dims: header.dim.slice(1, header.dim[0] + 1),
    volumes: headerShape(header).channels,
    datatype: header.datatype.name,
    datatypeCode: header.datatype.code,
    voxelSize: affineSpacing(affine),
    sclSlope: finiteOrNull(header.sclSlope),
    sclInter: finiteOrNull(header.sclInter),
    scaled: headerScaling(header, file) !== null,
    orientation: orientationCode(affine),
    affineFrom: from,
    qformCode: header.qformCode,
    sformCode: header.sformCode,
    affine,
    min,
    max,
    mean: sum / n,
  };
  return { report, volumes };
}

/** Up to 6 significant digits, without trailing zeros or a negative zero. */
function num(x: number): string {
  return String(Number((x + 0).toPrecision(6)));
}

export function formatReport(r: InspectReport): string {
  const scaling =
    r.sclSlope === null || r.sclSlope === 0
      ? `none (scl_slope ${r.sclSlope === null ? 'NaN' : 0})`
      : `scl_slope ${num(r.sclSlope)}, scl_inter ${r.sclInter === null ? 'NaN' : num(r.sclInter)}${r.scaled ? ' (applied)' : ' (no effect)'}`;
  const cells = r.affine.map((row) => row.map((x) => num(Math.round(x * 1e4) / 1e4)));
  const width = Math.max(...cells.flat().map((c) => c.length));
  const affineRows = cells.map((row) => `[ ${row.map((c) => c.padStart(width)).join('  ')} ]`);
  const lines: [string, string][] = [
    ['file', r.file],
    ['format', `${r.format}, ${r.byteOrder}`],
    ['dims', r.dims.join(' × ') + (r.volumes > 1 ? `  (${r.volumes} volumes)` : '')],
    ['voxel size', `${r.voxelSize.map(num).join(' × ')} mm`],
    ['datatype', `${r.datatype} (code ${r.datatypeCode})`],
    ['scaling', scaling],
    ['orientation', `${r.orientation} (affine from ${r.affineFrom}; qform_code ${r.qformCode}, sform_code ${r.sformCode})`],
    ['affine', affineRows[0]],
    ...affineRows.slice(1).map((row): [string, string] => ['', row]),
    ['min / max', `${num(r.min)} / ${num(r.max)}`],
    ['mean', num(r.mean)],
    ...(r.png ? [['preview', r.png] as [string, string]] : []),
  ];
  return lines.map(([k, v]) => `${k.padEnd(12)}${v}`.trimEnd()).join('\n');
}

export async function inspect(args: string[]): Promise<void> {
  const { file, json, png } = parse(args);
  const { report, volumes } = await inspectFile(file);
  if (png !== undefined) {
    const image = midSlicePreview(volumes[0]);
    try {
      await writeFile(png, encodePng(image.pixels, image.width, image.height));
    } catch (e) {
      throw new UsageError(`cannot write ${png} (${(e as Error).message})`);
    }
    report.png = png;
  }
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
}
