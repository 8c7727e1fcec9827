// Prepares the emulation tree (see run.sh) and checks that the tests cover every CUDA family.
//
//   node sync.mjs <repo root> <work dir>
//
// - The families are native/sources-cuda.txt minus context.cu (context.cu's host code is replaced
//   by context.cpp here; its header context.cuh is used as it is).
// - Copies each native/cuda/<family>.cu, context.cuh, gemm.h and device.h into <work>/native/cuda
//   with these mechanical rewrites, and nothing else:
//     kernel<<<grid, block, shmem, stream>>>(args)  →  ::emu::launch("kernel", grid, block, shmem,
//                                                      stream, kernel, args)
//     __shared__ T a[...], b[...];  →  static T a[...]; static ::emu::Shared a__emu(&a, sizeof(a)); (each)
//     the literal grid caps 65535 / 65534  →  EMU_GRID_CAP / (EMU_GRID_CAP - 1), except on
//                                               AMAE_CHECK lines (hard limits stay real)
//     __launch_bounds__(X) kernel(...) {  →  the same, then ::emu::launch_bounds(X); (checks the
//                                               launch's block size against X)
//   and, in context.cuh only, a call after Workspace::take's size check that marks the part
//   taken as addressable (emu::scratch_part), so the gaps between parts act as ASan redzones.
//   A launch or a __shared__ declaration of a form not handled here is left as it is, and g++
//   then rejects it: nothing is silently skipped.
// - Coverage: every family needs test/native/cuda-emu/<family>.test.cpp registering
//   EMU_FAMILY(<family>), and every public op the family's .cu defines (an AMAE_OP of
//   native/ops/*.h, a cuda:: declaration in them, or a gemm.h function) must be called there as
//   cuda::<op>(. Fails (exit 1) naming what is missing.
// - Besides the families, exactly two registrations are allowed, both required: EMU_FAMILY(emu)
//   in emu.test.cpp (the emulator's self-test) and EMU_FAMILY(model) in model.test.cpp (the whole
//   AMAE model on CUDA vs the CPU, no ops of its own to cover); run.sh runs both. Any other
//   EMU_FAMILY would be compiled but never run by run.sh, so it fails here.
// Prints the family list on stdout (without emu and model).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [root, work] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const errors = [];

// Comments blanked to spaces: positions stay those of the source.
const stripComments = (s) => s.replace(/\/\/[^\n]*/g, (m) => ' '.repeat(m.length));

function matchClose(s, i, open, close) {
  let depth = 0;
  for (let j = i; j < s.length; ++j) {
    if (s[j] === open) ++depth;
    else if (s[j] === close && --depth === 0) return j;
  }
  throw new Error(`unbalanced ${open}`);
}

// Splits at the commas outside any bracket.
function splitTop(s) {
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if ('([{'.includes(c)) ++depth;
    else if (')]}'.includes(c)) --depth;
    if (c === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

function rewriteLaunches(s, name) {
  const code = stripComments(s);
  const out = [];
  let i = 0;
  let n = 0;
  for (;;) {
    const j = code.indexOf('<<<', i);
    if (j < 0) {
      out.push(s.slice(i));
      break;
    }
    // The kernel expression before <<<: an identifier, maybe qualified, maybe with template arguments.
    let k = j;
    while (k > 0 && /\s/.test(code[k - 1])) --k;
    const endKernel = k;
    let depth = 0;
    while (k > 0) {
      const c = code[k - 1];
      if (c === '>') ++depth;
      else if (c === '<' && depth > 0) --depth;
      else if (depth === 0 && !/[\w:]/.test(c)) break;
      --k;
    }
    const kernel = s.slice(k, endKernel).split(/\s+/).join(' ');
    const m = code.indexOf('>>>', j);
    const cfg = splitTop(code.slice(j + 3, m));
    let p = m + 3;
    while (/\s/.test(code[p])) ++p;
    if (code[p] !== '(' || cfg.length < 2 || cfg.length > 4 || !kernel) {
      errors.push(`${name}: cannot parse the launch at offset ${j}`);
      out.push(s.slice(i, j + 3));
      i = j + 3;
      continue;
    }
    const q = matchClose(code, p, '(', ')');
    const args = s.slice(p + 1, q);
    const shmem = cfg[2] ?? '0';
    const stream = cfg[3] ?? 'nullptr';
    out.push(s.slice(i, k));
    out.push(`::emu::launch("${kernel}", ${cfg[0]}, ${cfg[1]}, ${shmem}, ${stream}, ${kernel}${args.trim() ? `, ${args}` : ''})`);
    i = q + 1;
    ++n;
  }
  return [out.join(''), n];
}

const SHARED = /__shared__\s+([^;{}()=]*(?:__align__\(\d+\)[^;{}()=]*)?);/g;
const FIRST = /^([\s\S]*?)\b(\w+)\s*((?:\[[^\]]*\]\s*)*)$/;
const MORE = /^\s*(\w+)\s*((?:\[[^\]]*\]\s*)*)$/;

// `__shared__ T a[..], b[..];` → static declarations plus one emu::Shared registration each.
// Anything else (an initializer, a pointer, extern) is left alone for g++ to reject.
function rewriteShared(s) {
  const repl = (whole, body) => {
    const parts = splitTop(body);
    const first = FIRST.exec(parts[0]);
    if (!first || parts[0].includes('*') || parts[0].includes('extern')) return whole;
    const decls = [[first[2], first[3]]];
    for (const p of parts.slice(1)) {
      const more = MORE.exec(p);
      if (!more) return whole;
      decls.push([more[1], more[2]]);
    }
    return decls.map(([n, dims]) => `static ${first[1]}${n}${dims}; static ::emu::Shared ${n}__emu(&${n}, sizeof(${n}));`).join(' ');
  };
  return s
    .split('\n')
    .map((line) => {
      const at = line.indexOf('//');
      const code = at < 0 ? line : line.slice(0, at);
      return code.replace(SHARED, repl) + (at < 0 ? '' : line.slice(at));
    })
    .join('\n');
}

// `__launch_bounds__(X) kernel(params) {` → the same with `::emu::launch_bounds(X);` as the
// body's first statement: a launch with more threads per block than X (which fails on the GPU)
// is reported. (__launch_bounds__ itself is an empty macro in the emulated runtime.)
function instrumentLaunchBounds(s, name) {
  const code = stripComments(s);
  const inserts = [];
  for (const m of code.matchAll(/__launch_bounds__\s*\(/g)) {
    const open = m.index + m[0].length - 1;
    const close = matchClose(code, open, '(', ')');
    const bound = splitTop(code.slice(open + 1, close))[0];
    const params = code.indexOf('(', close + 1);
    const body = code.indexOf('{', matchClose(code, params, '(', ')'));
    if (params < 0 || body < 0) {
      errors.push(`${name}: cannot find the kernel after __launch_bounds__ at offset ${m.index}`);
      continue;
    }
    inserts.push([body + 1, ` ::emu::launch_bounds(${bound});`]);
  }
  for (const [at, text] of inserts.reverse()) s = s.slice(0, at) + text + s.slice(at);
  return s;
}

function rewrite(src, dst, name) {
  let [s, n] = rewriteLaunches(instrumentLaunchBounds(fs.readFileSync(src, 'utf8'), name), name);
  if (name === 'context.cuh') {
    // Instrumentation: each part Workspace::take hands out is unpoisoned (ASan) in a scratch
    // that starts all poisoned, so the alignment gap between two parts is a redzone.
    const re = /(AMAE_CHECK\(used_ <= bytes_[^;]*;)/g;
    const k = (s.match(re) ?? []).length;
    s = s.replace(re, '$1 ::emu::scratch_part(static_cast<char*>(base_) + at, used_ - at);');
    if (k !== 1) errors.push("context.cuh: Workspace::take no longer has the line sync.mjs instruments: update sync.mjs");
  }
  s = rewriteShared(s);
  // Caps only: a line that checks a hard limit (AMAE_CHECK(heads <= 65535)) keeps the real one.
  s = s
    .split('\n')
    .map((l) => (l.includes('AMAE_CHECK') ? l : l.replace(/\b65535\b/g, 'EMU_GRID_CAP').replace(/\b65534\b/g, '(EMU_GRID_CAP - 1)')))
    .join('\n');
  // Unchanged files keep their timestamp (run.sh reuses objects with EMU_WORK).
  if (!fs.existsSync(dst) || fs.readFileSync(dst, 'utf8') !== s) fs.writeFileSync(dst, s);
  return n;
}

const sources = fs
  .readFileSync(path.join(root, 'native/sources-cuda.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter(Boolean);
const families = [];
for (const src of sources) {
  const base = path.basename(src);
  if (!base.endsWith('.cu')) errors.push(`native/sources-cuda.txt: ${src} is not a .cu file`);
  else if (base !== 'context.cu') families.push(base.slice(0, -3));
}

fs.mkdirSync(path.join(work, 'native/cuda'), { recursive: true });
for (const h of ['context.cuh', 'gemm.h', 'device.h']) rewrite(path.join(root, 'native/cuda', h), path.join(work, 'native/cuda', h), h);
for (const f of families) {
  const n = rewrite(path.join(root, 'native/cuda', `${f}.cu`), path.join(work, 'native/cuda', `${f}.cu`), f);
  if (n === 0) process.stderr.write(`note: ${f}.cu launches no kernel\n`);
}

// ---- coverage ----
const publicOps = new Set();
const names = (re, s) => [...s.matchAll(re)].map((m) => m[1]);
for (const h of fs.readdirSync(path.join(root, 'native/ops'))) {
  const t = fs.readFileSync(path.join(root, 'native/ops', h), 'utf8');
  for (const n of names(/AMAE_OP\(\s*(\w+)/g, t)) publicOps.add(n);
  for (const m of t.matchAll(/namespace cuda \{([\s\S]*?)\}/g)) for (const n of names(/\b(\w+)\s*\(/g, m[1])) publicOps.add(n);
}
for (const n of names(/\bvoid\s+(\w+)\s*\(/g, fs.readFileSync(path.join(root, 'native/cuda/gemm.h'), 'utf8'))) publicOps.add(n);
for (const f of families) {
  const test = path.join(here, `${f}.test.cpp`);
  if (!fs.existsSync(test)) {
    errors.push(`family ${f} (native/sources-cuda.txt) has no test: test/native/cuda-emu/${f}.test.cpp`);
    continue;
  }
  const t = fs.readFileSync(test, 'utf8');
  if (!t.includes(`EMU_FAMILY(${f})`)) errors.push(`${f}.test.cpp does not register EMU_FAMILY(${f})`);
  const cu = stripComments(fs.readFileSync(path.join(root, 'native/cuda', `${f}.cu`), 'utf8'));
  // Functions defined at the start of a line: the ops (and file-local helpers, filtered out below).
  const defined = new Set(names(/^\S[^\n;]*?\b(\w+)\s*\([^;{]*\)\s*\{/gm, cu));
  const ops = [...publicOps].filter((n) => defined.has(n)).sort();
  if (!ops.length) errors.push(`${f}.cu defines none of the public ops (AMAE_OP / gemm.h): cannot check its coverage`);
  for (const op of ops) if (!new RegExp(`cuda::${op}\\s*\\(`).test(t)) errors.push(`${f}.test.cpp never calls cuda::${op}`);
}

// The two pseudo-families, and no registration run.sh would not run.
const pseudo = { emu: 'emu.test.cpp', model: 'model.test.cpp' };
for (const [name, file] of Object.entries(pseudo)) {
  const f = path.join(here, file);
  if (!fs.existsSync(f) || !fs.readFileSync(f, 'utf8').includes(`EMU_FAMILY(${name})`))
    errors.push(`test/native/cuda-emu/${file} must register EMU_FAMILY(${name})`);
}
for (const file of fs.readdirSync(here).filter((f) => f.endsWith('.test.cpp'))) {
  const t = stripComments(fs.readFileSync(path.join(here, file), 'utf8'));
  for (const n of names(/\bEMU_FAMILY\(\s*(\w+)\s*\)/g, t))
    if (!families.includes(n) && !(n in pseudo))
      errors.push(`${file} registers EMU_FAMILY(${n}), neither a family of native/sources-cuda.txt nor emu / model: run.sh would never run it`);
}

if (errors.length) {
  for (const e of errors) console.log(`FAIL coverage: ${e}`);
  process.exit(1);
}
console.log(families.join(' '));
