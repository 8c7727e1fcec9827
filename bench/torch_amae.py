"""The AMAE pre-training step written in PyTorch, with the same shapes as amae's native model,
for `npm run bench` to time in the same run (the anchor of the speed and memory targets).

Usage: torch_amae.py PRESET BATCH CONTRASTS STEPS THREADS [device=cuda] [modes=eager,compile]
Each subject has CONTRASTS contrasts, so the batch needs no padding and PyTorch runs its best
case (dense [B, L, E]).

CPU (the default): fp32, the attention written out; prints one JSON line: step time (median),
samples/s, peak RSS.

device=cuda: the same model on the GPU with bf16 autocast, attention through
F.scaled_dot_product_attention (flash attention; the batch is dense, so no mask), fused AdamW;
each mode of `modes` (eager: as is; compile: torch.compile of the model) prints one JSON line
with the median step time, samples/s, torch.cuda.max_memory_allocated and the model FLOP
utilisation (MFU) against the peak bf16 matrix rate measured first, in the same run, with a large
torch.matmul (its own line, kind "peak"). A mode that fails prints its error and the next runs.

FLOPs of one step (model_flops; biases, norms, GELU, softmax, loss and AdamW are not counted, all
element-wise and under 1%): with n = B*C contrasts, P patches of V = p^3 voxels each, k kept
patches per contrast, L_e = C*k encoder tokens and L_d = C*P decoder tokens per subject,
  every linear layer W [in, out]: 6 * in * out * rows (2 forward, 4 backward: dX and dW);
    encoder blocks: 12 E^2 weights per block (qkv 3E^2, out E^2, MLP 8E^2), rows B*L_e;
    decoder blocks: 12 Ed^2 per block, rows B*L_d; embed E*Ed on B*L_e; pred Ed*V on B*L_d;
    projector 9*2E on n rows;
  the patch embedding: 4 * V * E * n*k (only kept patches count; no gradient reaches the volumes);
  attention per block: 12 * B * L^2 * width (QK^T and PV, 2 L^2 width each forward, twice that
    backward), L and width L_e, E in the encoder and L_d, Ed in the decoder.
"""
import json
import math
import resource
import statistics
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
    def __init__(self, dim, heads, sdpa=False):
        super().__init__()
        self.heads = heads
        self.sdpa = sdpa
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
        if self.sdpa:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1) @ v
        x = x + self.out_proj(o.transpose(1, 2).reshape(b, n, e))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class Amae(nn.Module):
    def __init__(self, size, p, e, depth, heads, ed, ddepth, dheads, sdpa=False):
        super().__init__()
        self.p, self.e = p, e
        self.P = (size // p) ** 3
        self.weight = nn.Parameter(torch.randn(e, p ** 3) * 0.02)
        self.bias = nn.Parameter(torch.zeros(e))
        self.projector = nn.Linear(K, 2 * e)
        self.modality = nn.Parameter(torch.randn(K, e) * 0.02)
        self.register_buffer("pos", torch.randn(self.P, e) * 0.02)
        self.blocks = nn.ModuleList(Block(e, heads, sdpa) for _ in range(depth))
        self.norm = nn.LayerNorm(e)
        self.embed = nn.Linear(e, ed)
        self.mask_token = nn.Parameter(torch.zeros(ed))
        self.dmodality = nn.Parameter(torch.randn(K, ed) * 0.02)
        self.register_buffer("dpos", torch.randn(self.P, ed) * 0.02)
        self.dblocks = nn.ModuleList(Block(ed, dheads, sdpa) for _ in range(ddepth))
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
        full.scatter_(1, keep[..., None].expand(-1, -1, full.shape[-1]), x.to(full.dtype))
        full = full + self.dpos[None] + self.dmodality[ids][:, None]
        y = full.reshape(b, c * self.P, -1)
        for blk in self.dblocks:
            y = blk(y)
        pred = self.pred(self.dnorm(y)).reshape(b * c, self.P, -1)
        # The mean squared error over the masked patches' voxels, as a weighted mean (no boolean
        # indexing: no host sync, and torch.compile sees fixed shapes).
        masked = torch.ones(b * c, self.P, device=vol.device)
        masked.scatter_(1, keep, 0.0)
        err = ((pred.float() - patches) ** 2).mean(-1)
        return (err * masked).sum() / masked.sum()


def model_flops(preset, batch, contrasts):
    """FLOPs of one training step, as the module docstring counts them."""
    size, p, e, depth, heads, ed, ddepth, dheads = PRESETS[preset]
    P, V = (size // p) ** 3, p ** 3
    k = max(1, int((1 - 0.7) * P + 1e-6))
    n = batch * contrasts
    le, ld = contrasts * k, contrasts * P
    linear = 6 * (12 * e * e * depth * batch * le + 12 * ed * ed * ddepth * batch * ld
                  + e * ed * batch * le + ed * V * batch * ld + K * 2 * e * n)
    embed = 4 * V * e * n * k
    attention = 12 * batch * (le * le * e * depth + ld * ld * ed * ddepth)
    return linear + embed + attention


def batch_data(model, batch, contrasts, size, device):
    n = batch * contrasts
    vol = torch.randn(n, size, size, size)
    ids = torch.arange(n) % K
    keep_n = max(1, int((1 - 0.7) * model.P + 1e-6))
    keep = torch.stack([torch.randperm(model.P)[:keep_n].sort().values for _ in range(n)])
    return vol.to(device), ids.to(device), keep.to(device)


def peak_bf16_tflops(n=8192, warmup=3, reps=10):
    """The GPU's bf16 matrix rate on random data, measured (METHOD.md): the MFU denominator."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(warmup):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (start.elapsed_time(end) / 1e3) / 1e12


def main_cuda(preset, batch, contrasts, steps, modes):
    torch.manual_seed(0)
    size, p, e, depth, heads, ed, ddepth, dheads = PRESETS[preset]
    peak = peak_bf16_tflops()
    name = torch.cuda.get_device_name()
    print(json.dumps({"kind": "peak", "gpu": name, "torch": torch.__version__, "peak_bf16_tflops": peak}), flush=True)
    flops = model_flops(preset, batch, contrasts)
    warmup = 3
    for mode in modes:
        try:
            torch.manual_seed(0)
            model = Amae(size, p, e, depth, heads, ed, ddepth, dheads, sdpa=True).cuda()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)
            run = torch.compile(model) if mode == "compile" else model
            data = [batch_data(model, batch, contrasts, size, "cuda") for _ in range(2)]
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            times = []
            t_first = time.perf_counter()
            for i in range(warmup + steps):
                vol, ids, keep = data[i % 2]
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = run(vol, ids, keep, batch, contrasts)
                loss.backward()
                opt.step()
                torch.cuda.synchronize()
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
                elif i == 0:
                    first_s = time.perf_counter() - t_first
            step = statistics.median(times)
            print(json.dumps({
                "kind": "torch", "mode": mode, "preset": preset, "batch": batch, "contrasts": contrasts,
                "precision": "bf16-autocast", "attention": "sdpa", "steps": steps, "first_step_s": first_s,
                "step_ms": step * 1e3, "step_ms_min": min(times) * 1e3, "samples_per_s": batch / step,
                "max_memory_allocated_mb": torch.cuda.max_memory_allocated() / 2 ** 20,
                "flops_per_step": flops, "tflops": flops / step / 1e12, "mfu": flops / step / 1e12 / peak,
                "peak_bf16_tflops": peak, "loss": float(loss),
            }), flush=True)
            del model, opt, run, data
            torch.cuda.empty_cache()
        except Exception as err:  # one mode failing (torch.compile, say) must not hide the others
            print(json.dumps({"kind": "torch", "mode": mode, "preset": preset, "batch": batch,
                              "error": f"{type(err).__name__}: {err}"[:500]}), flush=True)


def main():
    preset, batch, contrasts, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    options = dict(a.split("=", 1) for a in sys.argv[6:])
    if options.get("device", "cpu") == "cuda":
        main_cuda(preset, batch, contrasts, steps, options.get("modes", "eager,compile").split(","))
        return
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    size, p, e, depth, heads, ed, ddepth, dheads = PRESETS[preset]
    model = Amae(size, p, e, depth, heads, ed, ddepth, dheads)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    vol, ids, keep = batch_data(model, batch, contrasts, size, "cpu")
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
