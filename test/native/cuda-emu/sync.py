#!/usr/bin/env python3
# Prepares the emulation tree (see run.sh) and checks that the tests cover every CUDA family.
#
#   sync.py <repo root> <work dir>
#
# - The families are native/sources-cuda.txt minus context.cu (context.cu's host code is replaced
#   by context.cpp here; its header context.cuh is used as it is).
# - Copies each native/cuda/<family>.cu, context.cuh, gemm.h and device.h into <work>/native/cuda
#   with three mechanical rewrites, and nothing else:
#     kernel<<<grid, block, shmem, stream>>>(args)  →  ::emu::launch("kernel", grid, block, shmem,
#                                                      stream, kernel, args)
#     __shared__ T name[...];  →  static T name[...]; static ::emu::Shared name__emu(&name, sizeof(name));
#     the literal grid caps 65535 / 65534  →  EMU_GRID_CAP / (EMU_GRID_CAP - 1)
#   and, in context.cuh only, a call after Workspace::take's size check that marks the part
#   taken as addressable (emu::scratch_part), so the gaps between parts act as ASan redzones.
#   A launch or a __shared__ declaration of a form not handled here is left as it is, and g++
#   then rejects it: nothing is silently skipped.
# - Coverage: every family needs test/native/cuda-emu/<family>.test.cpp registering
#   EMU_FAMILY(<family>), and every public op the family's .cu defines (an AMAE_OP of
#   native/ops/*.h, a cuda:: declaration in them, or a gemm.h function) must be called there as
#   cuda::<op>(. Fails (exit 1) naming what is missing.
# Prints the family list on stdout.
import os
import re
import sys

root, work = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
errors = []


def strip_comment_lines(s):
    return re.sub(r'//[^\n]*', lambda m: ' ' * len(m.group(0)), s)


def match_close(s, i, open_c, close_c):
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_c:
            depth += 1
        elif s[j] == close_c:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError('unbalanced ' + open_c)


def split_top(s):
    parts, depth, cur = [], 0, ''
    for c in s:
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur.strip())
            cur = ''
        else:
            cur += c
    if cur.strip():
        parts.append(cur.strip())
    return parts


def rewrite_launches(s, name):
    code = strip_comment_lines(s)  # same length: positions agree
    out, i, n = [], 0, 0
    while True:
        j = code.find('<<<', i)
        if j < 0:
            out.append(s[i:])
            break
        k = j
        while k > 0 and code[k - 1].isspace():
            k -= 1
        end_kernel, depth = k, 0
        while k > 0:
            c = code[k - 1]
            if c == '>':
                depth += 1
            elif c == '<' and depth > 0:
                depth -= 1
            elif depth == 0 and not (c.isalnum() or c in '_:'):
                break
            k -= 1
        kernel = ' '.join(s[k:end_kernel].split())
        m = code.find('>>>', j)
        cfg = split_top(code[j + 3:m])
        p = m + 3
        while code[p].isspace():
            p += 1
        if code[p] != '(' or len(cfg) < 2 or len(cfg) > 4 or not kernel:
            errors.append(f'{name}: cannot parse the launch at offset {j}')
            out.append(s[i:j + 3])
            i = j + 3
            continue
        q = match_close(code, p, '(', ')')
        args = s[p + 1:q]
        shmem = cfg[2] if len(cfg) > 2 else '0'
        stream = cfg[3] if len(cfg) > 3 else 'nullptr'
        out.append(s[i:k])
        out.append(f'::emu::launch("{kernel}", {cfg[0]}, {cfg[1]}, {shmem}, {stream}, {kernel}'
                   + (f', {args}' if args.strip() else '') + ')')
        i = q + 1
        n += 1
    return ''.join(out), n


SHARED = re.compile(r'__shared__\s+([^;=\[\]{}()]*?(?:__align__\(\d+\)\s*)?[^;=\[\]{}()]*?)\b(\w+)\s*((?:\[[^\];]*\]\s*)*);')


def rewrite_shared(s):
    def repl(m):
        return f'static {m.group(1)}{m.group(2)}{m.group(3)}; static ::emu::Shared {m.group(2)}__emu(&{m.group(2)}, sizeof({m.group(2)}));'
    lines = []
    for line in s.split('\n'):
        code, sep, comment = line.partition('//')
        lines.append(SHARED.sub(repl, code) + sep + comment)
    return '\n'.join(lines)


def rewrite(src, dst, name):
    s = open(src).read()
    s, n = rewrite_launches(s, name)
    if name == 'context.cuh':
        # Instrumentation: each part Workspace::take hands out is unpoisoned (ASan) in a scratch
        # that starts all poisoned, so the alignment gap between two parts is a redzone.
        s, k = re.subn(r'(AMAE_CHECK\(used_ <= bytes_[^;]*;)',
                       r'\1 ::emu::scratch_part(static_cast<char*>(base_) + at, used_ - at);', s)
        if k != 1:
            errors.append('context.cuh: Workspace::take no longer has the line sync.py instruments: update sync.py')
    s = rewrite_shared(s)
    s = re.sub(r'\b65535\b', 'EMU_GRID_CAP', s)
    s = re.sub(r'\b65534\b', '(EMU_GRID_CAP - 1)', s)
    # Unchanged files keep their timestamp (run.sh reuses objects with EMU_WORK).
    if not os.path.exists(dst) or open(dst).read() != s:
        open(dst, 'w').write(s)
    return n


sources = [l.strip() for l in open(os.path.join(root, 'native/sources-cuda.txt')) if l.strip()]
families = []
for src in sources:
    base = os.path.basename(src)
    if not base.endswith('.cu'):
        errors.append(f'native/sources-cuda.txt: {src} is not a .cu file')
        continue
    if base == 'context.cu':
        continue
    families.append(base[:-3])

os.makedirs(os.path.join(work, 'native/cuda'), exist_ok=True)
for h in ['context.cuh', 'gemm.h', 'device.h']:
    rewrite(os.path.join(root, 'native/cuda', h), os.path.join(work, 'native/cuda', h), h)
for f in families:
    n = rewrite(os.path.join(root, 'native/cuda', f + '.cu'), os.path.join(work, 'native/cuda', f + '.cu'), f)
    if n == 0:
        print(f'note: {f}.cu launches no kernel', file=sys.stderr)

# ---- coverage ----
public = set()
for h in os.listdir(os.path.join(root, 'native/ops')):
    t = open(os.path.join(root, 'native/ops', h)).read()
    public |= set(re.findall(r'AMAE_OP\(\s*(\w+)', t))
    for block in re.findall(r'namespace cuda \{(.*?)\}', t, re.S):
        public |= set(re.findall(r'\b(\w+)\s*\(', block))
public |= set(re.findall(r'\bvoid\s+(\w+)\s*\(', open(os.path.join(root, 'native/cuda/gemm.h')).read()))
for f in families:
    test = os.path.join(here, f + '.test.cpp')
    if not os.path.exists(test):
        errors.append(f'family {f} (native/sources-cuda.txt) has no test: test/native/cuda-emu/{f}.test.cpp')
        continue
    t = open(test).read()
    if f'EMU_FAMILY({f})' not in t:
        errors.append(f'{f}.test.cpp does not register EMU_FAMILY({f})')
    cu = strip_comment_lines(open(os.path.join(root, 'native/cuda', f + '.cu')).read())
    defined = set(re.findall(r'^\S[^\n;]*?\b(\w+)\s*\([^;{]*\)\s*\{', cu, re.M))
    ops = sorted(public & defined)
    if not ops:
        errors.append(f'{f}.cu defines none of the public ops (AMAE_OP / gemm.h): cannot check its coverage')
    for op in ops:
        if not re.search(r'cuda::' + op + r'\s*\(', t):
            errors.append(f'{f}.test.cpp never calls cuda::{op}')

if errors:
    for e in errors:
        print('FAIL coverage: ' + e)
    sys.exit(1)
print(' '.join(families))
