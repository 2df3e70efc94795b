#!/usr/bin/env python3
"""Compares kiln's recurrent layers with PyTorch: nn.RNN (tanh, relu), nn.LSTM and
nn.GRU with kiln's weights loaded by name, run on each sequence of kiln's padded batch
alone. Checks kiln's outputs at real steps, zeros at padded steps, the final states, and
the gradients of the loss (x, h0, c0 and every parameter) against the sum of the
per-sequence losses, so a padded step that changed any output or gradient would fail.

Usage: torch_rnn_ref.py RNN_DUMP_EXE [BACKEND]. Runs the executable
(tests/nn/rnn_dump.c) into a temporary directory; exits 77 (SKIP) when torch is not
importable (Debian: /usr/bin/python3 has it) or the backend is missing."""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

# kiln and PyTorch both work in f32 but sum the matrix products and the gradient over
# the steps in other orders; a few steps of products of at most 14 terms of size <= 1
# leave errors of a few 1e-7. 1e-5 relative to the tensor's largest value is far below
# what any wrong gate, order or padding rule would give (order 1e-1).
TOL = 1e-5


def main(exe, backend):
    bad = 0
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        run = subprocess.run([exe, d, backend], capture_output=True, text=True)
        if run.returncode == 77:
            print(f"SKIP: {run.stderr.strip()}")
            return 77
        if run.returncode != 0:
            print(run.stdout, run.stderr)
            return 1

        def load(tag, what, shape):
            a = np.fromfile(f"{d}/{tag}_{what}.bin", dtype=np.float32)
            return torch.from_numpy(a.reshape(shape))

        def check(what, got, ref):
            nonlocal bad
            err = (got.reshape(ref.shape) - ref).abs().max().item()
            ok = err <= TOL * max(1.0, ref.abs().max().item())
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {what} {tuple(ref.shape)}: max abs err {err:.3g}")

        for line in run.stdout.splitlines():
            f = line.split()
            if f[0] == "conv1d":
                conv = torch.nn.Conv1d(3, 4, 3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(load("conv1d", "conv.weight", (4, 3, 3)))
                    conv.bias.copy_(load("conv1d", "conv.bias", (4,)))
                x = load("conv1d", "x", (2, 3, 7)).clone().requires_grad_()
                y = conv(x)
                real = torch.tensor([[1.0] * 7, [1.0] * 4 + [0.0] * 3]).unsqueeze(1)
                mx = y.masked_fill(real == 0, -float("inf")).max(dim=2).values
                mean = (y * real).sum(dim=2) / real.sum(dim=2)
                loss = (mx * load("conv1d", "wy", (2, 4))).sum()
                (loss + (mean * load("conv1d", "wh", (2, 4))).sum()).backward()
                check("conv1d y", load("conv1d", "y", (2, 4, 7)), y.detach())
                check("conv1d max over time", load("conv1d", "max", (2, 4)), mx.detach())
                check("conv1d mean over time", load("conv1d", "mean", (2, 4)), mean.detach())
                check("conv1d dx", load("conv1d", "grad_x", (2, 3, 7)), x.grad)
                check("conv1d dweight", load("conv1d", "grad_conv.weight", (4, 3, 3)),
                      conv.weight.grad)
                check("conv1d dbias", load("conv1d", "grad_conv.bias", (4,)), conv.bias.grad)
                continue
            tag, cell = f[0], f[1]
            layers, bidir, bf, bias, t, n, c, h = (int(v) for v in f[2:10])
            lens = [int(v) for v in f[10:]]
            dirs = 2 if bidir else 1
            if cell == "lstm":
                mod = torch.nn.LSTM(c, h, layers, bias=bool(bias), bidirectional=bool(bidir))
            elif cell == "gru":
                mod = torch.nn.GRU(c, h, layers, bias=bool(bias), bidirectional=bool(bidir))
            else:
                mod = torch.nn.RNN(c, h, layers, nonlinearity=cell[4:], bias=bool(bias),
                                   bidirectional=bool(bidir))
            with torch.no_grad():
                for name, p in mod.named_parameters():
                    p.copy_(load(tag, name, p.shape))
            xs = (n, t, c) if bf else (t, n, c)
            x = load(tag, "x", xs)
            x = (x.transpose(0, 1) if bf else x).clone().requires_grad_()
            yw = load(tag, "wy", (n, t, dirs * h) if bf else (t, n, dirs * h))
            yw = yw.transpose(0, 1) if bf else yw
            sd = (layers * dirs, n, h)
            hw = load(tag, "wh", sd)
            cw = load(tag, "wc", sd) if cell == "lstm" else None
            has_h0 = os.path.exists(f"{d}/{tag}_h0.bin")
            h0 = load(tag, "h0", sd).clone().requires_grad_() if has_h0 else None
            c0 = (load(tag, "c0", sd).clone().requires_grad_()
                  if has_h0 and cell == "lstm" else None)
            y_ref = torch.zeros(t, n, dirs * h)
            hn_ref = torch.zeros(sd)
            cn_ref = torch.zeros(sd)
            loss = 0.0
            for i, ln in enumerate(lens):
                xi = x[:ln, i:i + 1]
                hi = h0[:, i:i + 1] if h0 is not None else torch.zeros(layers * dirs, 1, h)
                if cell == "lstm":
                    ci = c0[:, i:i + 1] if c0 is not None else torch.zeros(layers * dirs, 1, h)
                    yi, (hni, cni) = mod(xi, (hi, ci))
                    loss = loss + (cni * cw[:, i:i + 1]).sum()
                    cn_ref[:, i] = cni[:, 0].detach()
                else:
                    yi, hni = mod(xi, hi)
                loss = loss + (yi * yw[:ln, i:i + 1]).sum() + (hni * hw[:, i:i + 1]).sum()
                y_ref[:ln, i] = yi[:, 0].detach()
                hn_ref[:, i] = hni[:, 0].detach()
            loss.backward()
            y = load(tag, "y", xs[:2] + (dirs * h,))
            y = y.transpose(0, 1) if bf else y
            check(f"{tag} y", y, y_ref)
            check(f"{tag} h_n", load(tag, "h_n", sd), hn_ref)
            if cell == "lstm":
                check(f"{tag} c_n", load(tag, "c_n", sd), cn_ref)
            dx = load(tag, "grad_x", xs)
            check(f"{tag} dx", dx.transpose(0, 1) if bf else dx, x.grad)
            if h0 is not None:
                check(f"{tag} dh0", load(tag, "grad_h0", sd), h0.grad)
            if c0 is not None:
                check(f"{tag} dc0", load(tag, "grad_c0", sd), c0.grad)
            for name, p in mod.named_parameters():
                check(f"{tag} d{name}", load(tag, "grad_" + name, p.shape), p.grad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "cpu"))
