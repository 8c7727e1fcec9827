# PyTorch anchor for conv.bench.ts: Conv3d k=3 (padding 1, no bias) forward and backward (dx, dw)
# on [1, C, S, S, S], median milliseconds, one JSON line per channel count.
# Usage: torch_conv.py SIZE CHANNELS...
import json
import sys
import time

import torch

torch.set_num_threads(2)
size = int(sys.argv[1])


def median_ms(fn, min_seconds=1.0, min_runs=3):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


with torch.no_grad():
    for c in map(int, sys.argv[2:]):
        x = torch.randn(1, c, size, size, size)
        w = torch.randn(c, c, 3, 3, 3) * 0.1
        dy = torch.randn(1, c, size, size, size)
        fwd = median_ms(lambda: torch.nn.functional.conv3d(x, w, padding=1))
        # What autograd runs for conv3d's backward, asking for dx and dw only.
        bwd = median_ms(
            lambda: torch.ops.aten.convolution_backward(
                dy, x, w, None, [1, 1, 1], [1, 1, 1], [1, 1, 1], False, [0, 0, 0], 1, [True, True, False]
            )
        )
        print(json.dumps({"channels": c, "fwd_ms": fwd, "bwd_ms": bwd, "threads": torch.get_num_threads()}))
