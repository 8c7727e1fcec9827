# Runs torch.optim.AdamW on the parameter and gradient sequence given as JSON on stdin and prints
# the final parameter and moments as JSON. The test runs it only where torch imports.
import json
import sys

import torch

job = json.load(sys.stdin)
param = torch.nn.Parameter(torch.tensor(job["param"], dtype=torch.float32))
# foreach=False: the single-tensor path, whose operation order the native op follows.
opt = torch.optim.AdamW(
    [param], lr=job["lr"], betas=(job["beta1"], job["beta2"]), eps=job["eps"],
    weight_decay=job["weight_decay"], foreach=False,
)
for g in job["grads"]:
    param.grad = torch.tensor(g, dtype=torch.float32)
    opt.step()
state = opt.state[param]
print(json.dumps({
    "torch": torch.__version__,
    "param": param.detach().tolist(),
    "m": state["exp_avg"].tolist(),
    "v": state["exp_avg_sq"].tolist(),
}))
