"""The three segmentation models of spec §3 (UNETR, Adaptive UNETR, U-Net) written in PyTorch from
scratch, as the independent reference that amae's native models are checked against (`check`) and
benchmarked against (`bench`).

Usage:
  torch_seg.py check MODEL WEIGHTS.safetensors CASE.safetensors OUT.safetensors
  torch_seg.py bench MODEL PRESET BATCH THREADS [CONTRASTS=3]
MODEL is unetr | adaptive-unetr | unet; PRESET is tiny | demo | paper.

check: builds MODEL from the checkpoint (tensor shapes first; the `__metadata__` "config" JSON only
for what the shapes cannot tell: the heads, and the volume size when the case does not give it),
loads every tensor strictly (a missing or unexpected name is an error), reads the case and runs, in
float64, the forward pass, the Dice loss and the backward pass. The case holds
  unetr, unet:     `input` F32 [B, C, H, W, D], `label` F32 [B, classes, H, W, D];
  adaptive-unetr:  `volumes` F32 [Nc, H, W, D] (every contrast of every subject, subject by
                   subject), `contrasts` I32 [Nc] (registry ids 0..8), `subjects` I32 [S+1]
                   (offsets into volumes), `label` F32 [S, classes, H, W, D].
OUT gets `logits` F32, `loss` F32 [1] and `grad.<name>` F32 for every parameter (not for the fixed
`vit.position_embedding` of adaptive-unetr). One JSON line on stdout summarises the run.

bench: random weights and inputs, fp32, torch.set_num_threads(THREADS); CONTRASTS input contrasts
(channel slots for unetr/unet, contrast ids 0..CONTRASTS-1 of every subject for adaptive-unetr).
Times (a) one fine-tuning step (forward + Dice loss + backward + AdamW step, lr 1e-4, betas
0.9/0.999, weight decay 0.05) and (b) one forward under torch.no_grad(); one warm-up each, then the
median of 5 repetitions (2 at the paper preset). Prints one JSON line: train_s, forward_s,
samples/s of both, peak RSS.

predict PRESET H W D THREADS CONTRASTS: UNETR (random weights) over a random [CONTRASTS, H, W, D]
volume by sliding windows as MONAI's sliding_window_inference runs them (overlap 0.5, Gaussian
weights, sigma 0.125, two windows a call — PyTorch 1.13's batch of 1 is several times slower per
sample on CPU — zero padding to the window), under no_grad. Prints one JSON
line: windows, wall_s, windows_per_s, peak RSS.

State-dict names: UNETR exactly MONAI's `UNETR` (without the unused cross-attention tensors of
MONAI >= 1.4); Adaptive UNETR the AMAE tokenizer and encoder under `vit.` plus MONAI's decoder
names; U-Net amae's own (`encoders.{l}`, `upsamples.{l}`, `decoders.{l}`, `out.conv.conv`).

Any error prints one line `torch_seg.py: error: ...` to stderr and exits with status 1.
"""
import json
import math
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

K = 9  # contrasts in the registry (spec §1)
PRESETS = {
    # size, E, depth, heads, F, U-Net channels
    "tiny": (32, 48, 3, 4, 8, (4, 8, 16, 32, 64)),
    "demo": (64, 96, 4, 4, 8, (8, 16, 32, 64, 128)),
    "paper": (96, 768, 12, 12, 16, (16, 32, 64, 128, 256)),
}
PATCH = 16
MODELS = ("unetr", "adaptive-unetr", "unet")


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, JSON header, raw little-endian data.

_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
           "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """-> (dict name -> numpy array, metadata dict)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}")
    if len(raw) < 8:
        raise UsageError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise UsageError(f"{path}: header length {n} exceeds the file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"{path}: bad safetensors header: {err}")
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        dtype, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
        if b > len(data) or a > b:
            raise UsageError(f"{path}: tensor {name} lies outside the data")
        if dtype == "BF16":
            bits = np.frombuffer(data[a:b], dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in _DTYPES:
            arr = np.frombuffer(data[a:b], dtype=_DTYPES[dtype])
        else:
            raise UsageError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        count = int(np.prod(shape)) if shape else 1
        if arr.size != count:
            raise UsageError(f"{path}: tensor {name} holds {arr.size} values, shape {shape} needs {count}")
        out[name] = arr.reshape(shape).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float32 / float64 / int32 / int64)."""
    names = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i4"): "I32", np.dtype("<i8"): "I64",
             np.dtype("u1"): "U8"}
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype not in names:
            raise ValueError(f"cannot write dtype {arr.dtype} ({name})")
        buf = arr.tobytes()
        header[name] = {"dtype": names[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(buf)]}
        chunks.append(buf)
        offset += len(buf)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for buf in chunks:
            f.write(buf)


# ---------------------------------------------------------------------------------------------
# Building blocks (MONAI's module names, so that state_dict() keys come out as MONAI's).

class ConvLayer(nn.Module):
    """MONAI's `Convolution`: a Sequential whose only tensor-holding child is `conv` (its norm and
    activation are applied by the blocks that own it, as UnetResBlock does)."""

    def __init__(self, cin, cout, k, stride=1, bias=False, transposed=False):
        super().__init__()
        if transposed:
            self.conv = nn.ConvTranspose3d(cin, cout, k, stride=stride, bias=bias)
        else:
            self.conv = nn.Conv3d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=bias)

    def forward(self, x):
        return self.conv(x)


def inorm(x):  # InstanceNorm3d(affine=False, eps=1e-5): no tensors
    return F.instance_norm(x, eps=1e-5)


def lrelu(x):
    return F.leaky_relu(x, 0.01)


class UnetResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = ConvLayer(cin, cout, 3)
        self.conv2 = ConvLayer(cout, cout, 3)
        if cin != cout:  # stride is always 1 here
            self.conv3 = ConvLayer(cin, cout, 1)

    def forward(self, x):
        out = inorm(self.conv2(lrelu(inorm(self.conv1(x)))))
        res = inorm(self.conv3(x)) if hasattr(self, "conv3") else x
        return lrelu(out + res)


class UnetrBasicBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.layer = UnetResBlock(cin, cout)

    def forward(self, x):
        return self.layer(x)


class UnetrPrUpBlock(nn.Module):
    def __init__(self, cin, cout, num_layer):
        super().__init__()
        self.transp_conv_init = ConvLayer(cin, cout, 2, 2, transposed=True)
        self.blocks = nn.ModuleList(
            nn.Sequential(ConvLayer(cout, cout, 2, 2, transposed=True), UnetResBlock(cout, cout))
            for _ in range(num_layer))

    def forward(self, x):
        x = self.transp_conv_init(x)
        for blk in self.blocks:
            x = blk(x)
        return x


class UnetrUpBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.transp_conv = ConvLayer(cin, cout, 2, 2, transposed=True)
        self.conv_block = UnetResBlock(2 * cout, cout)

    def forward(self, x, skip):
        return self.conv_block(torch.cat((self.transp_conv(x), skip), dim=1))


class UnetOutBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = ConvLayer(cin, cout, 1, bias=True)

    def forward(self, x):
        return self.conv(x)


class MLP(nn.Module):
    def __init__(self, e, m):
        super().__init__()
        self.linear1 = nn.Linear(e, m)
        self.linear2 = nn.Linear(m, e)

    def forward(self, x):
        return self.linear2(F.gelu(self.linear1(x)))  # erf GELU


class SelfAttention(nn.Module):
    def __init__(self, e, heads):
        super().__init__()
        if e % heads:
            raise UsageError(f"embedding width {e} is not divisible by heads {heads}")
        self.heads = heads
        self.out_proj = nn.Linear(e, e)  # registered before qkv, as MONAI's SABlock
        self.qkv = nn.Linear(e, 3 * e, bias=False)  # rows: q-heads, k-heads, v-heads

    def forward(self, x):
        b, n, e = x.shape
        d = e // self.heads
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        o = torch.softmax(q @ k.transpose(-2, -1) * d ** -0.5, dim=-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, n, e))


class Block(nn.Module):
    """Pre-norm ViT block; children in MONAI's TransformerBlock order (mlp, norm1, attn, norm2)."""

    def __init__(self, e, heads, m):
        super().__init__()
        self.mlp = MLP(e, m)
        self.norm1 = nn.LayerNorm(e, eps=1e-5)
        self.attn = SelfAttention(e, heads)
        self.norm2 = nn.LayerNorm(e, eps=1e-5)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def tap_blocks(depth):
    """0-based indices of the blocks whose outputs feed encoder2..4 (spec §3): block
    max(1, round_half_up(L*j/12)) (1-based) for j = 4, 7, 10; for L = 12 MONAI's [3], [6], [9]."""
    return [max(1, (2 * depth * j + 12) // 24) - 1 for j in (4, 7, 10)]


class PatchEmbedding(nn.Module):
    def __init__(self, cin, e, n_patches):
        super().__init__()
        self.patch_embeddings = nn.Conv3d(cin, e, PATCH, stride=PATCH)
        self.position_embeddings = nn.Parameter(torch.randn(1, n_patches, e) * 0.02)

    def forward(self, x):
        return self.patch_embeddings(x).flatten(2).transpose(1, 2) + self.position_embeddings


class ViT(nn.Module):
    def __init__(self, cin, e, depth, heads, m, n_patches):
        super().__init__()
        self.patch_embedding = PatchEmbedding(cin, e, n_patches)
        self.blocks = nn.ModuleList(Block(e, heads, m) for _ in range(depth))
        self.norm = nn.LayerNorm(e, eps=1e-5)

    def forward(self, x):
        x = self.patch_embedding(x)
        hidden = []
        for blk in self.blocks:
            x = blk(x)
            hidden.append(x)
        return self.norm(x), hidden


class UnetrDecoder(nn.Module):
    """Everything of MONAI's UNETR after the ViT (encoder1 included); subclasses create `vit`
    first and then call build_decoder, so that state_dict() lists the tensors in MONAI's order."""

    def build_decoder(self, cin, e, f, classes):
        self.encoder1 = UnetrBasicBlock(cin, f)
        self.encoder2 = UnetrPrUpBlock(e, 2 * f, 2)
        self.encoder3 = UnetrPrUpBlock(e, 4 * f, 1)
        self.encoder4 = UnetrPrUpBlock(e, 8 * f, 0)
        self.decoder5 = UnetrUpBlock(e, 8 * f)
        self.decoder4 = UnetrUpBlock(8 * f, 4 * f)
        self.decoder3 = UnetrUpBlock(4 * f, 2 * f)
        self.decoder2 = UnetrUpBlock(2 * f, f)
        self.out = UnetOutBlock(f, classes)

    def decode(self, enc1, taps, x, grid):
        def proj_feat(t):  # [B, P, E] -> [B, E, Gh, Gw, Gd]
            return t.reshape(t.shape[0], *grid, t.shape[-1]).permute(0, 4, 1, 2, 3).contiguous()

        enc2 = self.encoder2(proj_feat(taps[0]))
        enc3 = self.encoder3(proj_feat(taps[1]))
        enc4 = self.encoder4(proj_feat(taps[2]))
        dec3 = self.decoder5(proj_feat(x), enc4)
        dec2 = self.decoder4(dec3, enc3)
        dec1 = self.decoder3(dec2, enc2)
        return self.out(self.decoder2(dec1, enc1))


class UNETR(UnetrDecoder):
    def __init__(self, size, cin, e, depth, heads, m, f, classes):
        super().__init__()
        self.grid = tuple(s // PATCH for s in size)
        self.vit = ViT(cin, e, depth, heads, m, math.prod(self.grid))
        self.build_decoder(cin, e, f, classes)
        self.taps = tap_blocks(depth)

    def forward(self, x):
        z, hidden = self.vit(x)
        taps = [hidden[i] for i in self.taps]
        return self.decode(self.encoder1(x), taps, z, self.grid)


class Tokenizer(nn.Module):
    """The AMAE dynamic convolution tokenizer (spec §2.1)."""

    def __init__(self, e, p, code_dim=K, learned_code=False):
        super().__init__()
        self.p = p
        self.weight = nn.Parameter(torch.empty(e, 1, p, p, p))
        nn.init.xavier_uniform_(self.weight.view(e, -1))
        self.bias = nn.Parameter(torch.empty(e).uniform_(-p ** -1.5, p ** -1.5))
        self.projector = nn.Linear(code_dim, 2 * e)
        nn.init.normal_(self.projector.weight, std=0.02)
        nn.init.ones_(self.projector.bias)
        if learned_code:
            self.code_table = nn.Parameter(torch.randn(K, code_dim) * 0.02)

    def forward(self, vol, ids):  # vol [N, H, W, D], ids [N] -> [N, P, E]
        n, h, w, d = vol.shape
        p, e = self.p, self.weight.shape[0]
        patches = vol.reshape(n, h // p, p, w // p, p, d // p, p).permute(0, 1, 3, 5, 2, 4, 6).reshape(n, -1, p ** 3)
        code = self.code_table[ids] if hasattr(self, "code_table") else F.one_hot(ids, K).to(vol.dtype)
        s = self.projector(code)
        sw, sb = s[:, :e], s[:, e:]
        return (patches @ self.weight.reshape(e, -1).t()) * sw[:, None] + (sb * self.bias)[:, None]


def sincos_position_embedding(grid, e):
    """Spec §2.2 (as MONAI): [P, E] with [sin w, cos w, sin h, cos h, sin d, cos d] blocks."""
    if e % 6:
        return torch.randn(math.prod(grid), e) * 0.02
    h, w, d = torch.meshgrid(*(torch.arange(g, dtype=torch.float64) for g in grid), indexing="ij")
    pd = e // 6
    omega = 1.0 / 10000 ** (torch.arange(pd, dtype=torch.float64) / pd)
    parts = []
    for axis in (w, h, d):
        out = axis.flatten()[:, None] * omega[None]
        parts += [torch.sin(out), torch.cos(out)]
    return torch.cat(parts, dim=1).float()


class AdaptiveViT(nn.Module):
    def __init__(self, e, depth, heads, m, grid, p=PATCH, code_dim=K, learned_code=False):
        super().__init__()
        self.tokenizer = Tokenizer(e, p, code_dim, learned_code)
        self.modality_embedding = nn.Parameter(torch.randn(K, e) * 0.02)
        self.register_buffer("position_embedding", sincos_position_embedding(grid, e)[None])
        self.blocks = nn.ModuleList(Block(e, heads, m) for _ in range(depth))
        self.norm = nn.LayerNorm(e, eps=1e-5)


class AdaptiveUNETR(UnetrDecoder):
    def __init__(self, size, e, depth, heads, m, f, classes, code_dim=K, learned_code=False):
        super().__init__()
        self.grid = tuple(s // PATCH for s in size)
        self.vit = AdaptiveViT(e, depth, heads, m, self.grid, PATCH, code_dim, learned_code)
        self.build_decoder(1, e, f, classes)
        self.taps = tap_blocks(depth)

    def forward(self, vol, ids, subjects):
        # vol [Nc, H, W, D], ids [Nc] (long), subjects: list of S+1 python ints.
        vit = self.vit
        n_p, e = vit.position_embedding.shape[1], vit.position_embedding.shape[2]
        tokens = vit.tokenizer(vol, ids) + vit.position_embedding + vit.modality_embedding[ids][:, None]
        taps = [[] for _ in range(4)]
        for a, b in zip(subjects[:-1], subjects[1:]):
            x = tokens[a:b].reshape(1, (b - a) * n_p, e)  # one sequence: contrast by contrast
            hidden = []
            for blk in vit.blocks:
                x = blk(x)
                hidden.append(x)
            states = [hidden[i] for i in self.taps] + [vit.norm(x)]
            for j, t in enumerate(states):  # [K_s*P, E] -> [K_s, P, E] -> max over contrasts -> [P, E]
                taps[j].append(t.reshape(b - a, n_p, e).max(dim=0).values)
        taps = [torch.stack(t) for t in taps]  # [S, P, E]
        enc = self.encoder1(vol[:, None])  # shared weights on every contrast
        enc1 = torch.stack([enc[a:b].max(dim=0).values for a, b in zip(subjects[:-1], subjects[1:])])
        return self.decode(enc1, taps[:3], taps[3], self.grid)


class UNetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = ConvLayer(cin, cout, 3)
        self.conv2 = ConvLayer(cout, cout, 3)

    def forward(self, x):
        return lrelu(inorm(self.conv2(lrelu(inorm(self.conv1(x))))))


class UNet(nn.Module):
    def __init__(self, cin, channels, classes):
        super().__init__()
        c = list(channels)
        self.encoders = nn.ModuleList(UNetBlock(cin if l == 0 else c[l - 1], c[l]) for l in range(len(c)))
        self.upsamples = nn.ModuleList(ConvLayer(c[l + 1], c[l], 2, 2, transposed=True) for l in range(len(c) - 1))
        self.decoders = nn.ModuleList(UNetBlock(2 * c[l], c[l]) for l in range(len(c) - 1))
        self.out = UnetOutBlock(c[0], classes)

    def forward(self, x):
        skips = []
        for l, enc in enumerate(self.encoders):
            x = enc(F.max_pool3d(x, 2) if l > 0 else x)
            skips.append(x)
        for l in range(len(self.decoders) - 1, -1, -1):
            x = self.decoders[l](torch.cat((self.upsamples[l](x), skips[l]), dim=1))
        return self.out(x)


def dice_loss(logits, label):
    """MONAI DiceLoss(sigmoid=True), smooth_nr = smooth_dr = 1e-5, per sample and class, mean."""
    p = torch.sigmoid(logits)
    dims = tuple(range(2, logits.dim()))
    inter = (p * label).sum(dims)
    denom = p.sum(dims) + label.sum(dims)
    return (1.0 - (2.0 * inter + 1e-5) / (denom + 1e-5)).mean()


# ---------------------------------------------------------------------------------------------
# check

def _shape(w, name, rank=None):
    if name not in w:
        raise UsageError(f"checkpoint lacks tensor {name}")
    s = list(w[name].shape)
    if rank is not None and len(s) != rank:
        raise UsageError(f"tensor {name} has shape {s}, expected rank {rank}")
    return s


def _depth(w, prefix):
    idx = {int(k[len(prefix):].split(".")[0]) for k in w if k.startswith(prefix) and k[len(prefix):].split(".")[0].isdigit()}
    return max(idx) + 1 if idx else 0


def _size(config, fallback):
    size = config.get("size", fallback)
    if isinstance(size, int):
        size = [size] * 3
    if size is None or len(size) != 3:
        raise UsageError(f"cannot tell the volume size (config size {size!r})")
    size = [int(s) for s in size]
    if any(s % PATCH for s in size):
        raise UsageError(f"volume size {size} is not divisible by the patch {PATCH}")
    return size


def _heads(config):
    if "heads" not in config:
        raise UsageError('checkpoint config has no "heads"')
    return int(config["heads"])


def build_from_checkpoint(kind, w, config, case_size):
    if kind == "unetr":
        e, cin = _shape(w, "vit.patch_embedding.patch_embeddings.weight", 5)[:2]
        pk = _shape(w, "vit.patch_embedding.patch_embeddings.weight")[2:]
        if pk != [PATCH] * 3:
            raise UsageError(f"UNETR needs patch 16, the checkpoint's patch embedding has kernel {pk}")
        depth = _depth(w, "vit.blocks.")
        m = _shape(w, "vit.blocks.0.mlp.linear1.weight", 2)[0]
        f = _shape(w, "encoder1.layer.conv1.conv.weight", 5)[0]
        classes = _shape(w, "out.conv.conv.weight", 5)[0]
        size = _size(config, case_size)
        return UNETR(size, cin, e, depth, _heads(config), m, f, classes)
    if kind == "adaptive-unetr":
        ws = _shape(w, "vit.tokenizer.weight", 5)
        e, p = ws[0], ws[2]
        if ws[1] != 1 or ws[2:] != [PATCH] * 3:
            raise UsageError(f"vit.tokenizer.weight has shape {ws}, expected [E, 1, 16, 16, 16]")
        code_dim = _shape(w, "vit.tokenizer.projector.weight", 2)[1]
        learned = "vit.tokenizer.code_table" in w
        depth = _depth(w, "vit.blocks.")
        m = _shape(w, "vit.blocks.0.mlp.linear1.weight", 2)[0]
        f = _shape(w, "encoder1.layer.conv1.conv.weight", 5)[0]
        classes = _shape(w, "out.conv.conv.weight", 5)[0]
        size = _size(config, case_size)
        return AdaptiveUNETR(size, e, depth, _heads(config), m, f, classes, code_dim, learned)
    if kind == "unet":
        levels = _depth(w, "encoders.")
        if levels < 1:
            raise UsageError("checkpoint has no encoders.* tensors")
        channels = [_shape(w, f"encoders.{l}.conv2.conv.weight", 5)[0] for l in range(levels)]
        cin = _shape(w, "encoders.0.conv1.conv.weight", 5)[1]
        classes = _shape(w, "out.conv.conv.weight", 5)[0]
        return UNet(cin, channels, classes)
    raise UsageError(f"unknown model {kind!r} (expected one of {', '.join(MODELS)})")


def load_strict(model, w):
    sd = model.state_dict()
    missing = [k for k in sd if k not in w]
    unexpected = [k for k in w if k not in sd]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s): {', '.join(unexpected[:8])}" + (" ..." if len(unexpected) > 8 else ""))
        raise UsageError("checkpoint does not match the model: " + "; ".join(parts))
    with torch.no_grad():
        for k, v in sd.items():
            src = w[k]
            if list(src.shape) != list(v.shape):
                if src.size == v.numel() and k.endswith("position_embedding"):
                    src = src.reshape(v.shape)
                else:
                    raise UsageError(f"tensor {k} has shape {list(src.shape)}, the model needs {list(v.shape)}")
            v.copy_(torch.from_numpy(np.asarray(src, dtype=np.float64)))


def _case_tensor(case, name, rank=None):
    if name not in case:
        raise UsageError(f"case lacks tensor {name}")
    a = case[name]
    if rank is not None and a.ndim != rank:
        raise UsageError(f"case tensor {name} has shape {list(a.shape)}, expected rank {rank}")
    return a


def cmd_check(kind, weights_path, case_path, out_path):
    if kind not in MODELS:
        raise UsageError(f"unknown model {kind!r} (expected one of {', '.join(MODELS)})")
    w, meta = read_safetensors(weights_path)
    try:
        config = json.loads(meta.get("config", "{}"))
    except json.JSONDecodeError as err:
        raise UsageError(f"checkpoint config is not JSON: {err}")
    if not isinstance(config, dict):
        raise UsageError("checkpoint config is not a JSON object")
    if meta.get("kind") and meta["kind"] != kind:
        raise UsageError(f"checkpoint {weights_path} is of kind {meta['kind']!r}, not {kind!r}")
    case, _ = read_safetensors(case_path)
    if kind == "adaptive-unetr":
        vol = _case_tensor(case, "volumes", 4)
        case_size = list(vol.shape[1:])
    else:
        inp = _case_tensor(case, "input", 5)
        case_size = list(inp.shape[2:])
    model = build_from_checkpoint(kind, w, config, case_size).double()
    load_strict(model, w)
    label = torch.from_numpy(_case_tensor(case, "label", 5).astype(np.float64))
    if kind == "adaptive-unetr":
        ids = _case_tensor(case, "contrasts", 1).astype(np.int64)
        subjects = [int(s) for s in _case_tensor(case, "subjects", 1)]
        nc = vol.shape[0]
        if ids.shape[0] != nc:
            raise UsageError(f"contrasts has {ids.shape[0]} entries for {nc} volumes")
        if ids.size and (ids.min() < 0 or ids.max() >= K):
            raise UsageError(f"contrast ids must lie in 0..{K - 1}, got {ids.tolist()}")
        if len(subjects) < 2 or subjects[0] != 0 or subjects[-1] != nc or any(b <= a for a, b in zip(subjects, subjects[1:])):
            raise UsageError(f"subjects {subjects} are not increasing offsets from 0 to {nc}")
        if list(vol.shape[1:]) != [g * PATCH for g in model.grid]:
            raise UsageError(f"volumes are {list(vol.shape[1:])}, the model is {[g * PATCH for g in model.grid]}")
        x = torch.from_numpy(vol.astype(np.float64))
        args = (x, torch.from_numpy(ids), subjects)
        batch = len(subjects) - 1
    else:
        x = torch.from_numpy(inp.astype(np.float64))
        cin = model.vit.patch_embedding.patch_embeddings.weight.shape[1] if kind == "unetr" else model.encoders[0].conv1.conv.weight.shape[1]
        if x.shape[1] != cin:
            raise UsageError(f"input has {x.shape[1]} channels, the model takes {cin}")
        if kind == "unetr" and list(x.shape[2:]) != [g * PATCH for g in model.grid]:
            raise UsageError(f"input is {list(x.shape[2:])}, the model is {[g * PATCH for g in model.grid]}")
        if kind == "unet" and any(s % 2 ** (len(model.encoders) - 1) for s in x.shape[2:]):
            raise UsageError(f"input size {list(x.shape[2:])} is not divisible by {2 ** (len(model.encoders) - 1)}")
        args = (x,)
        batch = x.shape[0]
    classes = model.out.conv.conv.weight.shape[0]
    want = [batch, classes] + case_size
    if list(label.shape) != want:
        raise UsageError(f"label has shape {list(label.shape)}, expected {want}")
    model.zero_grad(set_to_none=True)
    logits = model(*args)
    loss = dice_loss(logits, label)
    loss.backward()
    out = {"logits": logits.detach().float().numpy(), "loss": np.array([loss.item()], dtype=np.float32)}
    for name, prm in model.named_parameters():
        g = prm.grad if prm.grad is not None else torch.zeros_like(prm)
        out["grad." + name] = g.float().numpy()
    write_safetensors(out_path, out)
    print(json.dumps({"model": kind, "loss": loss.item(), "logits": list(logits.shape), "grads": len(out) - 2}))


# ---------------------------------------------------------------------------------------------
# bench

def make_bench(kind, preset, batch, contrasts):
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    size, e, depth, heads, f, channels = PRESETS[preset]
    sz = [size] * 3
    if kind == "unetr":
        model = UNETR(sz, contrasts, e, depth, heads, 4 * e, f, 1)
        args = (torch.randn(batch, contrasts, *sz),)
    elif kind == "adaptive-unetr":
        if contrasts > K:
            raise UsageError(f"at most {K} contrasts per subject")
        model = AdaptiveUNETR(sz, e, depth, heads, 4 * e, f, 1)
        ids = torch.arange(contrasts).repeat(batch)
        args = (torch.randn(batch * contrasts, *sz), ids, [i * contrasts for i in range(batch + 1)])
    elif kind == "unet":
        model = UNet(contrasts, channels, 1)
        args = (torch.randn(batch, contrasts, *sz),)
    else:
        raise UsageError(f"unknown model {kind!r} (expected one of {', '.join(MODELS)})")
    label = (torch.rand(batch, 1, *sz) > 0.9).float()
    return model, args, label


def cmd_bench(kind, preset, batch, threads, contrasts):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, args, label = make_bench(kind, preset, batch, contrasts)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
    reps = 2 if preset == "paper" else 5

    def train():
        opt.zero_grad(set_to_none=True)
        loss = dice_loss(model(*args), label)
        loss.backward()
        opt.step()

    def forward():
        with torch.no_grad():
            model(*args)

    def timed(fn):
        fn()  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    train_s = timed(train)
    forward_s = timed(forward)
    print(json.dumps({
        "impl": "torch", "torch": torch.__version__, "model": kind, "preset": preset, "batch": batch,
        "threads": threads, "contrasts": contrasts, "train_s": train_s, "forward_s": forward_s,
        "train_samples_per_s": batch / train_s, "forward_samples_per_s": batch / forward_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }), flush=True)


def _gaussian_map(roi):
    """MONAI's compute_importance_map(mode="gaussian", sigma_scale=0.125), clamped as
    sliding_window_inference clamps it."""
    m = None
    for n in roi:
        x = torch.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=torch.float)
        g = torch.exp(x ** 2 / (-2 * (0.125 * n) ** 2))
        m = g if m is None else m.unsqueeze(-1) * g
    return torch.clamp(m, min=max(m.min().item(), 1e-3))


def _starts(image, roi, overlap=0.5):
    """MONAI's _get_scan_interval + dense_patch_slices, per axis."""
    out = []
    for s, r in zip(image, roi):
        step = r if r == s else max(int(r * (1 - overlap)), 1)
        num = math.ceil(s / step)
        count = next((k + 1 for k in range(num) if k * step + r >= s), 1)
        out.append([k * step - max(k * step + r - s, 0) for k in range(count)])
    return out


def cmd_predict(preset, h, w, d, threads, contrasts=3, sw_batch=2):
    """UNETR over a [contrasts, h, w, d] volume by sliding windows (overlap 0.5, Gaussian,
    sw_batch windows a call: PyTorch 1.13 on CPU runs a batch of 1 several times slower per sample
    than a batch of 2) under no_grad, as MONAI's sliding_window_inference runs it."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    size, e, depth, heads, f, _ = PRESETS[preset]
    roi = [size] * 3
    model = UNETR(roi, contrasts, e, depth, heads, 4 * e, f, 1).eval()
    x = torch.randn(1, contrasts, h, w, d)
    pad = [max(r - s, 0) for r, s in zip(roi, (h, w, d))]
    x = F.pad(x, [v for p in reversed(pad) for v in (p // 2, p - p // 2)])
    image = x.shape[2:]
    weight = _gaussian_map(roi)
    out = torch.zeros(1, 1, *image)
    count = torch.zeros(1, 1, *image)
    starts = _starts(image, roi)
    t0 = time.perf_counter()
    n = 0
    slices = [(slice(None), slice(None), slice(a, a + roi[0]), slice(b, b + roi[1]), slice(c, c + roi[2]))
              for a in starts[0] for b in starts[1] for c in starts[2]]
    with torch.no_grad():
        for i in range(0, len(slices), sw_batch):
            group = slices[i:i + sw_batch]
            pred = model(torch.cat([x[sl] for sl in group]))
            for k, sl in enumerate(group):
                out[sl] += weight * pred[k:k + 1]
                count[sl] += weight
                n += 1
    torch.sigmoid(out / count)
    wall = time.perf_counter() - t0
    print(json.dumps({"impl": "torch", "torch": torch.__version__, "preset": preset, "size": [h, w, d], "windows": n, "sw_batch": sw_batch,
                      "wall_s": wall, "windows_per_s": n / wall,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


def _int(s, what):
    try:
        v = int(s)
    except ValueError:
        raise UsageError(f"{what} must be an integer, got {s!r}")
    if v < 1:
        raise UsageError(f"{what} must be at least 1, got {v}")
    return v


USAGE = ("usage: torch_seg.py check MODEL WEIGHTS.safetensors CASE.safetensors OUT.safetensors | "
         "torch_seg.py bench MODEL PRESET BATCH THREADS [CONTRASTS] | "
         "torch_seg.py predict PRESET H W D THREADS CONTRASTS")


def main(argv):
    if len(argv) >= 1 and argv[0] == "check" and len(argv) == 5:
        cmd_check(*argv[1:])
    elif len(argv) >= 1 and argv[0] == "bench" and len(argv) in (5, 6):
        kind, preset = argv[1], argv[2]
        if kind not in MODELS:
            raise UsageError(f"unknown model {kind!r} (expected one of {', '.join(MODELS)})")
        contrasts = _int(argv[5], "CONTRASTS") if len(argv) == 6 else 3
        cmd_bench(kind, preset, _int(argv[3], "BATCH"), _int(argv[4], "THREADS"), contrasts)
    elif len(argv) == 7 and argv[0] == "predict":
        cmd_predict(argv[1], *(_int(v, n) for v, n in zip(argv[2:6], ("H", "W", "D", "THREADS"))), _int(argv[6], "CONTRASTS"))
    else:
        raise UsageError(USAGE)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except UsageError as err:
        print(f"torch_seg.py: error: {err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - one clear line for the caller, whatever failed
        msg = " ".join(f"{type(err).__name__}: {err}".split())
        print(f"torch_seg.py: error: {msg[:2000]}", file=sys.stderr)
        sys.exit(1)
