#!/usr/bin/python3
"""Adds PyTorch's results to kiln's op golden files.

Each tests/golden/data/<case>.safetensors written by golden_dump holds an op's inputs
(in0..in3), its raw params, the fixed loss weights w (loss = sum(y * w)) when the case
has gradients, and __metadata__ naming the op and its params. This script computes, in
float64 and rounded once to float32:
  out         the op's output (or out<i>: the updated in-place input i of an optimizer op)
  grad<i>     d loss / d in<i> for every input listed in metadata "grad"
and rewrites the file with them and metadata "torch_version". Only the Python standard
library and torch are needed. Usage: make_goldens.py <dir> [case...]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DT = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "I32": (torch.int32, 4),
      "I64": (torch.int64, 8)}
DT_NAME = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    (hlen,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + hlen
    tensors = {}
    for name, e in header.items():
        dt, _ = DT[e["dtype"]]
        b, en = e["data_offsets"]
        raw = bytearray(buf[base + b:base + en])
        t = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, meta


def write_st(path, tensors, meta):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DT_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def f32(v):
    """The float32 value kiln stores for a parameter printed with %.9g."""
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def masked_mean(per_row_loss, valid, n):
    """kiln: rows with a label outside [0, C) add zero loss but still count in the mean."""
    return (per_row_loss * valid).sum() / n


# ---- forward definitions of kiln's ops in PyTorch terms (float64) ----
# Each takes the list of inputs (float64 or int64) and the params dict.

def op_softmax_xent(x, y):
    c = x.shape[1]
    valid = (y >= 0) & (y < c)
    # PyTorch's cross_entropy with reduction="mean" divides by the number of valid rows;
    # kiln divides by N. ignore_index handles the invalid rows, the sum / N the mean.
    yy = torch.where(valid, y, torch.full_like(y, -100))
    return F.cross_entropy(x, yy, ignore_index=-100, reduction="sum") / x.shape[0]


def op_hinge(x, y):
    c = x.shape[1]
    valid = (y >= 0) & (y < c)
    yc = torch.where(valid, y, torch.zeros_like(y))
    per = F.multi_margin_loss(x, yc, p=1, margin=1.0, reduction="none")
    return masked_mean(per, valid.to(x.dtype), x.shape[0])


def op_matmul(a, b, p):
    if p["trans_a"]:
        a = a.transpose(-1, -2)
    if p["trans_b"]:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


def op_broadcast(x, p):
    shape = p["shape"]
    xs = [1] * (len(shape) - x.dim()) + list(x.shape)
    return f32(p["scale"]) * x.reshape(xs).expand(shape)


def op_reduce(x, p):
    dims = [i for i in range(x.dim()) if p["axes"] >> i & 1]
    return f32(p["scale"]) * x.sum(dim=dims, keepdim=True) if dims else f32(p["scale"]) * x


FWD = {
    "add": lambda i, p: i[0] + i[1],
    "sub": lambda i, p: i[0] - i[1],
    "mul": lambda i, p: i[0] * i[1],
    "div": lambda i, p: i[0] / i[1],
    "scale_shift": lambda i, p: f32(p["scale"]) * i[0] + f32(p["shift"]),
    "relu": lambda i, p: F.relu(i[0]),
    "leaky_relu": lambda i, p: F.leaky_relu(i[0], negative_slope=f32(p["alpha"])),
    "sigmoid": lambda i, p: torch.sigmoid(i[0]),
    "tanh": lambda i, p: torch.tanh(i[0]),
    "gelu": lambda i, p: F.gelu(i[0], approximate="tanh"),
    "exp": lambda i, p: torch.exp(i[0]),
    "log": lambda i, p: torch.log(i[0]),
    "sqrt": lambda i, p: torch.sqrt(i[0]),
    "matmul": lambda i, p: op_matmul(i[0], i[1], p),
    "reshape": lambda i, p: i[0].reshape(p["shape"]),
    "transpose": lambda i, p: i[0].permute(p["perm"][:i[0].dim()]),
    "reduce_sum": lambda i, p: op_reduce(i[0], p),
    "broadcast": lambda i, p: op_broadcast(i[0], p),
    "argmax": lambda i, p: torch.argmax(i[0], dim=-1),
    "softmax": lambda i, p: torch.softmax(i[0], dim=-1),
    "log_softmax": lambda i, p: torch.log_softmax(i[0], dim=-1),
    "mse": lambda i, p: F.mse_loss(i[0], i[1]),
    "softmax_xent": lambda i, p: op_softmax_xent(i[0], i[1]),
    "bce_logits": lambda i, p: F.binary_cross_entropy_with_logits(i[0], i[1]),
    "hinge": lambda i, p: op_hinge(i[0], i[1]),
}

# _BWD kernels: (forward op, how to recover the forward op's input from the kernel's
# first input). The result is autograd of the forward op at that input with the
# kernel's incoming gradient (last input).
BWD = {
    "relu_bwd": ("relu", lambda x: x),
    "leaky_relu_bwd": ("leaky_relu", lambda x: x),
    "sigmoid_bwd": ("sigmoid", torch.logit),  # input is y = sigmoid(x)
    "tanh_bwd": ("tanh", torch.atanh),  # input is y = tanh(x)
    "gelu_bwd": ("gelu", lambda x: x),
    "softmax_bwd": ("softmax", torch.log),  # softmax(log y) = y for rows summing to 1
    "log_softmax_bwd": ("log_softmax", lambda y: y),  # log_softmax(y) = y for such rows
    "mse_bwd": ("mse", None),
    "softmax_xent_bwd": ("softmax_xent", None),
    "bce_logits_bwd": ("bce_logits", None),
    "hinge_bwd": ("hinge", None),
}


def as64(t):
    return t.to(torch.float64) if t.is_floating_point() else t.to(torch.int64)


def run_bwd(op, ins, p):
    fwd, recover = BWD[op]
    dy = ins[-1]
    if recover is not None:  # elementwise / row-wise: (x or y, dy)
        x = recover(ins[0]).detach().requires_grad_(True)
        y = FWD[fwd]([x], p)
        y.backward(dy)
        return x.grad
    # losses: (scores, targets or labels, dy scalar) -> d/dscores
    x = ins[0].detach().requires_grad_(True)
    y = FWD[fwd]([x, ins[1]], p)
    y.backward(dy.reshape(()))
    return x.grad


def run_sgd(ins, p):
    w = ins[0].clone().requires_grad_(False)
    opt = torch.optim.SGD([w], lr=f32(p["lr"]), momentum=f32(p["momentum"]),
                          dampening=f32(p["dampening"]), weight_decay=f32(p["weight_decay"]),
                          nesterov=bool(p["nesterov"]))
    w.grad = ins[1].clone()
    v = ins[2].clone()
    if p["step"] > 1 and p["momentum"] != 0:
        # kiln's velocity input is the momentum buffer left by step t - 1.
        opt.state[w]["momentum_buffer"] = v
    opt.step()
    if p["momentum"] != 0:
        v = opt.state[w]["momentum_buffer"]
    return {"out0": w.detach(), "out2": v}


def run_adam(ins, p):
    w = ins[0].clone()
    cls = torch.optim.AdamW if p["decoupled"] else torch.optim.Adam
    opt = cls([w], lr=f32(p["lr"]), betas=(f32(p["beta1"]), f32(p["beta2"])), eps=f32(p["eps"]),
              weight_decay=f32(p["weight_decay"]))
    w.grad = ins[1].clone()
    # kiln's m and v inputs are the moments left by step t - 1.
    opt.state[w] = {"step": torch.tensor(float(p["step"] - 1)), "exp_avg": ins[2].clone(),
                    "exp_avg_sq": ins[3].clone()}
    opt.step()
    st = opt.state[w]
    return {"out0": w.detach(), "out2": st["exp_avg"], "out3": st["exp_avg_sq"]}


def compute(tensors, meta):
    op = meta["op"]
    p = json.loads(meta["params"])
    n_in = int(meta["n_in"])
    ins = [as64(tensors["in%d" % i]) for i in range(n_in)]
    grad_idx = [int(s) for s in meta["grad"].split(",") if s]
    res = {}
    if op == "sgd_update":
        res = run_sgd(ins, p)
    elif op == "adam_update":
        res = run_adam(ins, p)
    elif op in BWD:
        res["out"] = run_bwd(op, ins, p)
    else:
        leaves = [t.detach().requires_grad_(i in grad_idx) for i, t in enumerate(ins)]
        y = FWD[op](leaves, p)
        res["out"] = y.detach()
        if grad_idx:
            w = as64(tensors["w"])
            (y * w.reshape(y.shape)).sum().backward()
            for i in grad_idx:
                res["grad%d" % i] = leaves[i].grad
    out = {}
    for k, v in res.items():
        v = v.detach()
        out[k] = v.to(torch.int32) if not v.is_floating_point() else v.to(torch.float32)
    if "out" in out:
        want = json.loads(meta["out_shape"])
        out["out"] = out["out"].reshape(want)
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_goldens.py <dir> [case...]")
    d = sys.argv[1]
    picks = set(sys.argv[2:])
    torch.set_default_dtype(torch.float64)
    n = 0
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".safetensors") or (picks and fn[:-12] not in picks):
            continue
        path = os.path.join(d, fn)
        tensors, meta = read_st(path)
        if "op" not in meta:
            continue
        keep = {k: v for k, v in tensors.items()
                if k.startswith("in") or k in ("w", "params")}
        keep.update(compute(tensors, meta))
        meta["torch_version"] = torch.__version__
        write_st(path, keep, meta)
        n += 1
    print("wrote PyTorch %s goldens for %d cases in %s" % (torch.__version__, n, d))


if __name__ == "__main__":
    main()
