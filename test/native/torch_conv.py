# Reference results for conv.test.ts from PyTorch (computed in float64, written as float32):
# for each case, <case>.<name>.bin for x, w, b, dy and the outputs y, dx, dw, db, and meta.json
# with every tensor's shape.
import json
import sys

import torch

out = sys.argv[1]
torch.manual_seed(0)
cases = {
    "k3": (False, (2, 3, 5, 4, 3), (5, 3, 3, 3, 3)),
    "k1": (False, (2, 3, 5, 4, 3), (5, 3, 1, 1, 1)),
    "k3_wide": (False, (1, 16, 6, 5, 7), (12, 16, 3, 3, 3)),
    "transpose": (True, (2, 3, 3, 2, 5), (3, 5, 2, 2, 2)),
}
meta = {}
for name, (transposed, xs, ws) in cases.items():
    x = torch.randn(xs, dtype=torch.float64, requires_grad=True)
    w = torch.randn(ws, dtype=torch.float64, requires_grad=True)
    co = ws[1] if transposed else ws[0]
    b = torch.randn(co, dtype=torch.float64, requires_grad=True)
    if transposed:
        y = torch.nn.functional.conv_transpose3d(x, w, b, stride=2)
    else:
        y = torch.nn.functional.conv3d(x, w, b, padding=ws[2] // 2)
    dy = torch.randn_like(y)
    dx, dw, db = torch.autograd.grad(y, (x, w, b), dy)
    tensors = {"x": x, "w": w, "b": b, "dy": dy, "y": y, "dx": dx, "dw": dw, "db": db}
    meta[name] = {}
    for k, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous()
        meta[name][k] = list(t.shape)
        with open(f"{out}/{name}.{k}.bin", "wb") as f:
            f.write(t.numpy().tobytes())
with open(f"{out}/meta.json", "w") as f:
    json.dump(meta, f)
