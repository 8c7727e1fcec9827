// `npm run test:pack`: the package as a user gets it. Makes the prebuild, packs the tarball,
// installs it into an empty folder with --ignore-scripts (nothing may compile there), and checks
// that `import('amae')` loads the prebuilt addon and runs an op, and that the `amae` command runs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

run('npm', ['run', 'prebuildify'], root);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-pack-'));
try {
  const out = run('npm', ['pack', '--json', '--pack-destination', tmp], root);
  const [{ filename, files }] = JSON.parse(out.slice(out.indexOf('[')));
  const shipped = files.map((f) => f.path);
  const prebuild = shipped.find((p) => p.startsWith('prebuilds/') && p.endsWith('.node'));
  if (!prebuild) throw new Error('the tarball holds no prebuilds/*.node');
  if (shipped.some((p) => p.startsWith('build/'))) throw new Error('the tarball holds build/ outputs');
  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', path.join(tmp, filename)], app);
  if (fs.existsSync(path.join(app, 'node_modules/amae/build'))) throw new Error('a build/ folder appeared in the install');
  const check = `
    const amae = await import('amae');
    const { y } = await amae.addon.op('gelu_forward', { x: { data: new Float32Array([1]), shape: [1] } });
    if (Math.abs(y.data[0] - 0.8413447) > 1e-6) throw new Error('wrong GELU from the prebuild: ' + y.data[0]);
    console.log('import("amae") works from ' + ${JSON.stringify(prebuild)} + ' (' + amae.addon.opList().length + ' ops)');`;
  process.stdout.write(run(process.execPath, ['--input-type=module', '-e', check], app));
  // The `amae` command as an installed package has it: the compiled CLI from dist/.
  const help = run('npx', ['--no-install', 'amae', '--help'], app);
  if (!/usage: amae <command>/.test(help)) throw new Error(`npx amae --help printed: ${help}`);
  console.log('npx amae --help works from the installed package');
  console.log('2 passed, 0 failed');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
