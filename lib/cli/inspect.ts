// `amae inspect FILE [--json] [--png OUT]`: what a NIfTI file holds — its header, geometry and
// value range — as text for people or JSON for scripts, and optionally a picture of it.

import { writeFile } from 'node:fs/promises';
import { describeNifti, type NiftiDescription } from '../data/describe.js';
import { encodePng } from '../data/png.js';
import { midSlicePreview } from '../data/preview.js';
import { parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

export const INSPECT_USAGE = `inspect FILE [--json] [--png OUT]
      header, geometry and value range of a NIfTI file; --png writes its middle sagittal,
      coronal and axial slices (the first volume of a 4D file) to OUT`;

/** The description, plus where the preview went with --png. */
export type InspectReport = NiftiDescription & { png?: string };

function parse(args: string[]): { file: string; json: boolean; png?: string } {
  const options = { json: { type: 'boolean' }, png: { type: 'string' } } as const;
  const parsed = parseCommandLine(args, options, INSPECT_USAGE, true);
  if (parsed.positionals.length !== 1) {
    throw new UsageError(`expected one FILE, got ${parsed.positionals.length}; usage: amae ${INSPECT_USAGE}`);
  }
  return { file: parsed.positionals[0], json: parsed.values.json ?? false, png: parsed.values.png };
}

/** Up to 6 significant digits, without trailing zeros or a negative zero. */
function num(x: number): string {
  return String(Number((x + 0).toPrecision(6)));
}

function formatReport(r: InspectReport): string {
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
  const { description, volumes } = await describeNifti(file);
  const report: InspectReport = { ...description };
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
