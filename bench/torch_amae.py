"""The AMAE pre-training step written in PyTorch, with the same shapes as amae's native model,
for `npm run bench` to time in the same run (the anchor of the speed and memory targets).

Usage: torch_amae.py PRESET BATCH CONTRASTS STEPS THREADS
Prints one JSON line: step time (median), samples/s, peak RSS. Each subject has CONTRASTS
contrasts, so the batch needs no padding and PyTorch runs its best case (dense [B, L, E]).
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    # size, patch, E, depth, heads, Ed, decoder depth, decoder heads
    "tiny": (32, 16, 48, 3, 4, 48, 1, 4),
    "demo": (64, 16, 96, 4, 4, 48, 2, 4),
    "paper": (96, 16, 768, 12, 12, 384, 8, 12),
}
K = 9


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, n, e = x.shape
        d = e // self.heads
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1)
        x = x + self.out_proj((att @ v).transpose(1, 2).reshape(b, n, e))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class Amae(nn.Module):
    def __init__(self, size, p, e, depth, heads, ed, ddepth, dheads):
        super().__init__()
        self.p, self.e = p, e
        self.P = (size // p) ** 3
        self.weight = nn.Parameter(torch.randn(e, p ** 3) * 0.02)
        self.bias = nn.Parameter(torch.zeros(e))
        self.projector = nn.Linear(K, 2 * e)
        self.modality = nn.Parameter(torch.randn(K, e) * 0.02)
        self.register_buffer("pos", torch.randn(self.P, e) * 0.02)
        self.blocks = nn.ModuleList(Block(e, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(e)
        self.embed = nn.Linear(e, ed)
        self.mask_token = nn.Parameter(torch.zeros(ed))
        self.dmodality = nn.Parameter(torch.randn(K, ed) * 0.02)
        self.register_buffer("dpos", torch.randn(self.P, ed) * 0.02)
        self.dblocks = nn.ModuleList(Block(ed, dheads) for _ in range(ddepth))
        self.dnorm = nn.LayerNorm(ed)
        self.pred = nn.Linear(ed, p ** 3)

    def patchify(self, vol):  # [N, H, W, D] -> [N, P, p^3] in (gh, gw, gd) × (ph, pw, pd) order
        n, h, w, d = vol.shape
        p = self.p
        x = vol.view(n, h // p, p, w // p, p, d // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(n, -1, p ** 3)

    def forward(self, vol, ids, keep, b, c):
        # vol [B*c, H, W, D]; ids [B*c] contrast ids; keep [B*c, n] kept patch indices.
        patches = self.patchify(vol)
        s = self.projector(F.one_hot(ids, K).float())
        sw, sb = s[:, : self.e], s[:, self.e :]
        tokens = (patches @ self.weight.t()) * sw[:, None] + (sb * self.bias)[:, None]
        tokens = tokens + self.pos[None] + self.modality[ids][:, None]
        kept = torch.gather(tokens, 1, keep[..., None].expand(-1, -1, self.e))
        x = kept.reshape(b, -1, self.e)  # one sequence per subject: its contrasts' kept tokens
        for blk in self.blocks:
            x = blk(x)
        x = self.embed(self.norm(x)).reshape(b * c, -1, self.embed.out_features)
        full = self.mask_token.expand(b * c, self.P, -1).clone()
        full.scatter_(1, keep[..., None].expand(-1, -1, full.shape[-1]), x)
        full = full + self.dpos[None] + self.dmodality[ids][:, None]
        y = full.reshape(b, c * self.P, -1)
        for blk in self.dblocks:
            y = blk(y)
        pred = self.pred(self.dnorm(y)).reshape(b * c, self.P, -1)
        masked = torch.ones(b * c, self.P, dtype=torch.bool)
        masked.scatter_(1, keep, False)
        return ((pred - patches) ** 2)[masked].mean()


def main():
    preset, batch, contrasts, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    size, p, e, depth, heads, ed, ddepth, dheads = PRESETS[preset]
    model = Amae(size, p, e, depth, heads, ed, ddepth, dheads)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    n = batch * contrasts
    vol = torch.randn(n, size, size, size)
    ids = torch.arange(n) % K
    keep_n = max(1, int((1 - 0.7) * model.P + 1e-6))
    keep = torch.stack([torch.randperm(model.P)[:keep_n].sort().values for _ in range(n)])
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(vol, ids, keep, batch, contrasts)
        loss.backward()
        opt.step()
        if i > 0:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    times.sort()
    step = times[len(times) // 2]
    print(json.dumps({
        "preset": preset, "batch": batch, "contrasts": contrasts, "threads": threads, "torch": torch.__version__,
        "step_ms": step * 1e3, "samples_per_s": batch / step,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "loss": float(loss),
    }))


if __name__ == "__main__":
    main()
