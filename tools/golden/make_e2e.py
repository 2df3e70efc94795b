#!/usr/bin/python3
"""Writes kiln's end-to-end training goldens (tests/golden/e2e/).

An MLP 784-32-10 with ReLU (fc1, fc2: PyTorch nn.Linear, weight [out, in]) starts from
fixed weights (nn.Linear's default initialization under torch.manual_seed(0)) and trains
for STEPS steps on NB fixed batches of BATCH Fashion-MNIST training images (the first
NB * BATCH, pixels / 255 normalized with mean 0.2860 and std 0.3530), batch s % NB at
step s, with softmax cross-entropy (mean over the batch), once with SGD (momentum) and
once with Adam. The training runs in float64 (the exact trajectory) and in float32
(PyTorch's own float32 result, for the tolerance) and writes:
  mlp_init.safetensors     fc1.weight, fc1.bias, fc2.weight, fc2.bias (F32)
  mlp_batches.safetensors  x [NB, BATCH, 784] F32, y [NB, BATCH] I32
  mlp_curves.safetensors   <opt>_loss [STEPS] (float64 run, the golden),
                           <opt>_loss_f32 [STEPS] (float32 run), per optimizer; the
                           optimizer settings are in __metadata__.
Usage: make_e2e.py <out dir> [fashion-mnist dir]
"""
import gzip
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import write_st  # noqa: E402

BATCH, NB, STEPS, HIDDEN = 16, 10, 100, 32
MEAN, STD = 0.2860, 0.3530
OPTIMS = {
    "sgd": {"kind": "sgd", "lr": 0.01, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
            "nesterov": 0},
    "adam": {"kind": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
             "weight_decay": 0.0, "decoupled": 0},
}


def f32(v):
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    (magic,) = struct.unpack(">I", buf[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, buf[4:4 + 4 * nd])
    return dims, buf[4 + 4 * nd:]


def load_batches(d):
    n = NB * BATCH
    dims, px = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    _, lb = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    size = dims[1] * dims[2]
    x = torch.tensor(list(px[:n * size]), dtype=torch.float32).reshape(NB, BATCH, size)
    x = ((x / 255.0 - f32(MEAN)) / f32(STD)).to(torch.float32)
    y = torch.tensor(list(lb[:n]), dtype=torch.int32).reshape(NB, BATCH)
    return x, y


def init_weights():
    torch.manual_seed(0)
    fc1 = torch.nn.Linear(784, HIDDEN)
    fc2 = torch.nn.Linear(HIDDEN, 10)
    return {"fc1.weight": fc1.weight.detach().float(), "fc1.bias": fc1.bias.detach().float(),
            "fc2.weight": fc2.weight.detach().float(), "fc2.bias": fc2.bias.detach().float()}


def mlp_forward(p, x):
    h = F.relu(x @ p["fc1.weight"].t() + p["fc1.bias"])
    return h @ p["fc2.weight"].t() + p["fc2.bias"]


def train(init, x, y, o, dtype, forward=mlp_forward, in_shape=(784,)):
    """The loss curve of STEPS steps of optimizer o from init, cycling the batches."""
    ps = {k: v.to(dtype).clone().requires_grad_(True) for k, v in init.items()}
    params = list(ps.values())
    if o["kind"] == "sgd":
        opt = torch.optim.SGD(params, lr=f32(o["lr"]), momentum=f32(o["momentum"]),
                              dampening=f32(o["dampening"]), weight_decay=f32(o["weight_decay"]),
                              nesterov=bool(o["nesterov"]))
    else:
        opt = torch.optim.Adam(params, lr=f32(o["lr"]), betas=(f32(o["beta1"]), f32(o["beta2"])),
                               eps=f32(o["eps"]), weight_decay=f32(o["weight_decay"]))
    losses = []
    for s in range(STEPS):
        xb = x[s % NB].to(dtype).reshape(BATCH, *in_shape)
        loss = F.cross_entropy(forward(ps, xb), y[s % NB].long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return torch.tensor(losses, dtype=torch.float64)


def write_curves(path, init, x, y, meta, forward=mlp_forward, in_shape=(784,), extra=None):
    """Trains with every optimizer of OPTIMS in float64 (the golden) and in float32, and
    writes both curves to path; extra maps a suffix to another forward whose float32
    curve is written as <opt>_loss_f32_<suffix>."""
    curves = {}
    for name, o in OPTIMS.items():
        c64 = train(init, x, y, o, torch.float64, forward, in_shape)
        c32 = train(init, x, y, o, torch.float32, forward, in_shape)
        curves[name + "_loss"] = c64.float()
        curves[name + "_loss_f32"] = c32.float()
        meta[name] = json.dumps(o)
        gap = ((c32 - c64).abs() / c64.abs()).max()
        print("%s: loss %.4f -> %.4f; float32 vs float64 max rel gap %.2e"
              % (name, c64[0], c64[-1], gap))
        for suffix, fwd in (extra or {}).items():
            ce = train(init, x, y, o, torch.float32, fwd, in_shape)
            curves[name + "_loss_f32_" + suffix] = ce.float()
            gap = ((ce - c64).abs() / c64.abs()).max()
            print("%s: float32 %s vs float64 max rel gap %.2e" % (name, suffix, gap))
    write_st(path, curves, meta)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/e2e"
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(1)
    x, y = load_batches(src)
    init = init_weights()
    meta = {"model": "784-%d-10 relu mlp, softmax cross-entropy" % HIDDEN,
            "batch": str(BATCH), "batches": str(NB), "steps": str(STEPS),
            "normalize": "(pixel / 255 - %g) / %g" % (MEAN, STD),
            "torch_version": torch.__version__}
    write_st(os.path.join(out, "mlp_init.safetensors"), init, meta)
    write_st(os.path.join(out, "mlp_batches.safetensors"), {"x": x, "y": y}, meta)
    write_curves(os.path.join(out, "mlp_curves.safetensors"), init, x, y, meta)

if __name__ == "__main__":
    main()
