# Copies native/cuda/<name>.cu into the emulation tree, rewriting every kernel launch
# `kernel<<<grid, block, 0, stream>>>(args)` into `emu::launch(grid, block, kernel, args)`.
# SMALL=1 also shrinks the grid caps (65535 → 2) so the grid-stride loops over y/z and the
# chunk-size growth run on small shapes.
import os, re, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sys.argv[3:]:
    s = open(os.path.join(src, f"{name}.cu")).read()
    s = re.sub(r'([\w<>:, ]+?)<<<(.*?),\s*(.*?),\s*0,\s*\w+(?:\(\))?>>>\(',
               lambda m: f"emu::launch({m.group(2)}, {m.group(3)}, {m.group(1).strip()}, ", s)
    s = s.replace(", )", ")").replace("#pragma unroll", "")
    if os.environ.get("SMALL"):
        s = s.replace("65534", "1").replace("65535", "2")
    open(os.path.join(dst, f"{name}.cu"), "w").write(s)
