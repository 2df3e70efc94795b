#!/usr/bin/python3
"""GFLOP/s of PyTorch's CPU convolutions at the shapes of bench/conv/bench_conv, the peer
of its --lines mode in bench/compare.sh:

  torch_conv.py [ROUNDS] [SHAPE...]

For each shape (default all) it times the forward (F.conv2d), the data gradient and the
filter gradient (aten.convolution_backward with one output each), each the median of
ROUNDS (default 5) timings over about 0.3 s of runs after a warm-up, with
torch.set_num_threads(KILN_BENCH_THREADS, default 2), and prints
"conv SHAPE fwd|data|filter: X GFLOP/s" (2 N K C KH KW OH OW flops per op).
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# name: (n, c, h, w, k, kh, kw, pad), as in bench/conv/bench_conv.c
SHAPES = {
    "lenet-conv1": (64, 1, 28, 28, 6, 5, 5, 2),
    "lenet-conv2": (64, 6, 14, 14, 16, 5, 5, 0),
    "resnet20-16": (64, 16, 32, 32, 16, 3, 3, 1),
    "64x64@8x8": (64, 64, 8, 8, 64, 3, 3, 1),
    "resnet-16@28": (64, 16, 28, 28, 16, 3, 3, 1),
    "resnet-32@14": (64, 32, 14, 14, 32, 3, 3, 1),
    "resnet-64@7": (64, 64, 7, 7, 64, 3, 3, 1),
}


def timed(fn, rounds):
    fn()
    t0 = time.perf_counter()
    fn()
    t = time.perf_counter() - t0
    reps = max(2, min(100, int(0.3 / t))) if t > 0 else 20
    v = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        v.append((time.perf_counter() - t0) / reps)
    return statistics.median(v)


def main():
    args = sys.argv[1:]
    rounds = int(args.pop(0)) if args and args[0].isdigit() else 5
    names = args or list(SHAPES)
    torch.set_num_threads(int(os.environ.get("KILN_BENCH_THREADS", "2")))
    torch.manual_seed(0)
    for name in names:
        if name not in SHAPES:
            sys.exit("torch_conv.py: unknown shape %s" % name)
        n, c, h, w, k, kh, kw, pad = SHAPES[name]
        x = torch.rand(n, c, h, w) - 0.5
        wt = torch.rand(k, c, kh, kw) - 0.5
        oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
        dy = torch.rand(n, k, oh, ow) - 0.5
        flops = 2.0 * n * k * c * kh * kw * oh * ow

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, wt, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, mask)

        with torch.no_grad():
            ops = [("fwd", lambda: F.conv2d(x, wt, padding=pad)),
                   ("data", bwd([True, False, False])),
                   ("filter", bwd([False, True, False]))]
            for op, fn in ops:
                print("conv %s %s: %.3f GFLOP/s" % (name, op, flops / timed(fn, rounds) * 1e-9),
                      flush=True)


if __name__ == "__main__":
    main()
