#!/usr/bin/env python3
"""Compares kiln's CPU reference of the convolutional-network layers with PyTorch:
outputs, input and weight gradients of loss = sum(y^2) / 2, and batch norm's running
variance, eval output and weight gradient.

Usage: torch_conv_ref.py CONV_DUMP_EXE. Runs the executable (tests/nn/conv_dump.c)
into a temporary directory and compares every tensor; exits 77 (SKIP) when torch is
not importable (Debian: /usr/bin/python3 has it)."""
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

TOL = 1e-5  # f32 sums of at most 27 terms of size <= 1 (about 10 ULP)


def layer(name, x, w):
    if name == "conv":
        return F.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2)
    if name == "tconv":
        return F.conv_transpose2d(x, w, stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                                  groups=2, dilation=(1, 2))
    if name == "maxpool":
        return F.max_pool2d(x, 3, 2, 1)
    if name == "avgpool":
        return F.avg_pool2d(x, 3, 2, 1)
    if name == "avgpool_nopad":
        return F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    if name == "lrn":
        return F.local_response_norm(x, 4, 0.3, 0.75, 1.5)
    if name == "upsample":
        return F.interpolate(x, scale_factor=(2, 3), mode="nearest")
    if name == "concat":
        return torch.cat([x, w, x], 1)
    if name == "pad":  # F.pad lists (before, after) from the last dim backwards
        return F.pad(x, (0, 3, 2, 1, 1, 0, 0, 1))
    raise KeyError(name)


def main(exe):
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([exe, d], check=True, capture_output=True, text=True).stdout
        load = lambda tag, what, shape: torch.from_numpy(  # noqa: E731
            np.fromfile(f"{d}/{tag}_{what}.bin", dtype=np.float32).reshape(shape))

        def check(what, got, ref):
            nonlocal bad
            err = (got.reshape(ref.shape) - ref).abs().max().item()
            ok = err <= TOL * max(1.0, ref.abs().max().item())
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {what} {tuple(ref.shape)}: max abs err {err:.3g}")

        for line in out.splitlines():
            tag, *dims = line.split()
            yshape = tuple(int(v) for v in dims)
            shapes = {"conv": ((2, 4, 9, 8), (6, 2, 3, 2)), "tconv": ((2, 4, 3, 4), (4, 3, 3, 2)),
                      "lrn": ((2, 6, 2, 3), None), "bn": ((4, 3, 2, 3), None),
                      "upsample": ((1, 2, 2, 3), None), "concat": ((1, 2, 2, 3), (1, 5, 2, 3)),
                      "pad": ((1, 2, 2, 3), None)}
            xs, ws = shapes.get(tag, ((2, 3, 7, 8), None))
            x = load(tag, "x", xs).requires_grad_()
            w = load(tag, "w", ws).requires_grad_() if ws else None
            if tag == "bn":
                bn = torch.nn.BatchNorm2d(3)
                y = bn(x)
            else:
                y = layer(tag, x, w)
            (y * y).sum().mul(0.5).backward()
            check(f"{tag} output", load(tag, "y", yshape), y.detach())
            check(f"{tag} dx", load(tag, "dx", xs), x.grad)
            if w is not None:
                check(f"{tag} dw", load(tag, "dw", ws), w.grad)
            if tag == "bn":
                check("bn running_var", load(tag, "running_var", (3,)), bn.running_var)
                check("bn dgamma", load(tag, "dgamma", (3,)), bn.weight.grad)
                bn.eval()
                check("bn eval output", load(tag, "eval", yshape), bn(x).detach())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
