// `npm run test:sanitize`: builds the addon with AddressSanitizer + UBSan (build-sanitize/) and
// runs the native op and model tests against it. Node itself is not instrumented, so the ASan runtime is
// preloaded; leak checking is off because Node frees little at exit by design.
import { execFileSync, spawnSync } from 'node:child_process';
import { buildNative } from './build-native.mjs';

if (!buildNative({ sanitize: true })) process.exit(1);
const runtime = (name) => execFileSync('g++', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
const env = {
  ...process.env,
  AMAE_ADDON: 'build-sanitize/RelWithDebInfo/amae.node',
  LD_PRELOAD: [runtime('libasan.so'), runtime('libubsan.so')].join(' '),
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const r = spawnSync('npx', ['ava', 'test/native/**/*.test.ts', 'test/models/**/*.test.ts', 'test/helpers/**/*.test.ts'], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
