#!/usr/bin/python3
"""Adds PyTorch's results to kiln's op golden files.

Each tests/golden/data/**/<case>.safetensors written by golden_dump holds a case's
inputs (in0..in3; in1_s<t>: the gradient of optimizer step t), its raw params, the fixed
loss weights w (loss = sum(y * w)) when the case has gradients, and __metadata__ with
the case's forward graph (JSON nodes: op, sources, params, shape), the inputs that get
gradients and the optimizer steps. This script evaluates the graph with PyTorch, in
float64 rounded once to float32 (float32 for rows with metadata precision "f32"):
  out         the output (out<i>: the updated in-place input i of an optimizer op, or
              the input i that an op writes besides its output, a rider)
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


def op_argmax(x):
    """kiln: the first index of the maximum over the row's non-NaN elements (0 when all
    are NaN). PyTorch's argmax picks a NaN."""
    ok = ~torch.isnan(x)
    xs = torch.where(ok, x, torch.full_like(x, -math.inf))
    hit = ok & (xs == xs.max(dim=-1, keepdim=True).values)
    return torch.argmax(hit.to(torch.int32), dim=-1)


def op_reduce(x, p):
    dims = [i for i in range(x.dim()) if p["axes"] >> i & 1]
    return f32(p["scale"]) * x.sum(dim=dims, keepdim=True) if dims else f32(p["scale"]) * x


FWD = {
    "add": lambda i, p: i[0] + i[1],
    "sub": lambda i, p: i[0] - i[1],
    "mul": lambda i, p: i[0] * i[1],
    "div": lambda i, p: i[0] / i[1],
    "scale_shift": lambda i, p: f32(p["scale"]) * i[0] + f32(p["shift"]),
    # kiln: x > 0 ? x : 0, so relu(NaN) = 0 (PyTorch propagates NaN).
    "relu": lambda i, p: torch.where(torch.isnan(i[0]), torch.zeros_like(i[0]), F.relu(i[0])),
    "add_relu": lambda i, p: FWD["relu"]([i[0] + i[1]], p),
    "leaky_relu": lambda i, p: F.leaky_relu(i[0], negative_slope=f32(p["alpha"])),
    "sigmoid": lambda i, p: torch.sigmoid(i[0]),
    "tanh": lambda i, p: torch.tanh(i[0]),
    "gelu": lambda i, p: F.gelu(i[0], approximate="tanh"),
    "exp": lambda i, p: torch.exp(i[0]),
    "log": lambda i, p: torch.log(i[0]),
    "sqrt": lambda i, p: torch.sqrt(i[0]),
    "matmul": lambda i, p: op_matmul(i[0], i[1], p),
    # matmul, then + bias along the last dim, then kiln's relu when p["relu"].
    "matmul_bias": lambda i, p: (lambda y: FWD["relu"]([y], p) if p["relu"] else y)(
        op_matmul(i[0], i[1], p) + i[2].reshape(-1)
    ),
    # matmul, then threshold_backward at 0 with y (kiln's y > 0 ? g : 0).
    "matmul_relu_bwd": lambda i, p: torch.where(
        i[2] > 0, op_matmul(i[0], i[1], p), torch.zeros_like(i[2])
    ),
    "reshape": lambda i, p: i[0].reshape(p["shape"]),
    "transpose": lambda i, p: i[0].permute(p["perm"][:i[0].dim()]),
    "reduce_sum": lambda i, p: op_reduce(i[0], p),
    "broadcast": lambda i, p: op_broadcast(i[0], p),
    "argmax": lambda i, p: op_argmax(i[0]),
    "softmax": lambda i, p: torch.softmax(i[0], dim=-1),
    "log_softmax": lambda i, p: torch.log_softmax(i[0], dim=-1),
    "mse": lambda i, p: F.mse_loss(i[0], i[1]),
    "softmax_xent": lambda i, p: op_softmax_xent(i[0], i[1]),
    "bce_logits": lambda i, p: F.binary_cross_entropy_with_logits(i[0], i[1]),
    "hinge": lambda i, p: op_hinge(i[0], i[1]),
}

# _BWD kernels fed directly (x or y, dy): PyTorch's own backward kernels, which take the
# same arguments (sigmoid/tanh/softmax backward take the forward output y).
A = torch.ops.aten
BWD_ELEM = {
    "relu_bwd": lambda x, dy, p: A.threshold_backward(dy, x, 0),
    "leaky_relu_bwd": lambda x, dy, p: A.leaky_relu_backward(dy, x, f32(p["alpha"]), False),
    "sigmoid_bwd": lambda y, dy, p: A.sigmoid_backward(dy, y),
    "tanh_bwd": lambda y, dy, p: A.tanh_backward(dy, y),
    "gelu_bwd": lambda x, dy, p: A.gelu_backward(dy, x, approximate="tanh"),
    "softmax_bwd": lambda y, dy, p: torch._softmax_backward_data(dy, y, -1, y.dtype),
    "log_softmax_bwd": lambda y, dy, p: torch._log_softmax_backward_data(dy, y, -1, y.dtype),
}
# Loss _BWD kernels (scores, targets or labels, dy scalar): autograd of the forward loss.
BWD_LOSS = {"mse_bwd": "mse", "softmax_xent_bwd": "softmax_xent",
            "bce_logits_bwd": "bce_logits", "hinge_bwd": "hinge"}


# ---- convolutional-network ops (src/ops/conv.c, pool.c, norm.c, layout.c, random.c) ----
# The _BWD kernels are defined as vector-Jacobian products of their forward op, so
# they are computed with autograd (create_graph: the linear ones have backward rules
# of their own, whose gradients the goldens also hold).

def vjp(f, primal, cot):
    p = primal if primal.requires_grad else primal.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(p), p, cot, create_graph=True)
    return g


def zeros_like_shape(shape, like):
    return torch.zeros(shape, dtype=like.dtype).requires_grad_(True)


def conv_kw(p):
    return dict(stride=tuple(p["stride"]), padding=tuple(p["pad"]),
                dilation=tuple(p["dilation"]), groups=p["groups"])


def op_conv_bwd_data(dy, w, p):
    x0 = zeros_like_shape([dy.shape[0], w.shape[1] * p["groups"]] + p["in_hw"], dy)
    (g,) = torch.autograd.grad(F.conv2d(x0, w, **conv_kw(p)), x0, dy, create_graph=True)
    return g


def op_conv_bwd_filter(x, dy, p):
    w0 = zeros_like_shape([dy.shape[1], x.shape[1] // p["groups"]] + p["kernel"], x)
    (g,) = torch.autograd.grad(F.conv2d(x, w0, **conv_kw(p)), w0, dy, create_graph=True)
    return g


def pool_kw(p):
    return dict(kernel_size=tuple(p["kernel"]), stride=tuple(p["stride"]),
                padding=tuple(p["pad"]))


def op_avgpool(x, p):
    return F.avg_pool2d(x, count_include_pad=bool(p["count_include_pad"]), **pool_kw(p))


def op_avgpool_bwd(dy, p):
    x0 = zeros_like_shape(list(dy.shape[:2]) + p["in_hw"], dy)
    (g,) = torch.autograd.grad(op_avgpool(x0, p), x0, dy, create_graph=True)
    return g


def op_upsample_bwd(dy, p):
    f = p["factor"]
    x0 = zeros_like_shape([dy.shape[0], dy.shape[1], dy.shape[2] // f[0], dy.shape[3] // f[1]],
                          dy)
    (g,) = torch.autograd.grad(F.interpolate(x0, scale_factor=tuple(f), mode="nearest"), x0, dy,
                               create_graph=True)
    return g


def bn_axes(x):
    return [0] + list(range(2, x.dim()))


def per_channel(v, x):
    """[C] -> broadcastable against x [N, C, ...]."""
    return v.reshape([1, -1] + [1] * (x.dim() - 2))


def op_bn_stats(x):
    """Training mode (the golden runs are training runs): batch mean, biased variance."""
    ax = bn_axes(x)
    return torch.stack([x.mean(dim=ax), x.var(dim=ax, unbiased=False)])


def op_bn_stats_bwd(x, st, ds):
    """The vector-Jacobian product of op_bn_stats at the statistics st, which kiln takes
    from its input (the forward output) instead of recomputing the mean from x:
    dx = ds_mean / M + ds_var 2 (x - st_mean) / M. With st = op_bn_stats(x) this is
    autograd's result exactly; the harness row feeds independent random statistics."""
    m = x.numel() / x.shape[1]
    return per_channel(ds[0], x) / m + per_channel(ds[1], x) * 2 * (x - per_channel(st[0], x)) / m


def op_bn_apply(x, st, g, b, p):
    r = 1.0 / torch.sqrt(per_channel(st[1], x) + f32(p["eps"]))
    return (x - per_channel(st[0], x)) * r * per_channel(g, x) + per_channel(b, x)


def op_bn_apply_bwd_params(x, st, g, dy, p):
    m, v = st[0].detach().requires_grad_(True), st[1].detach().requires_grad_(True)
    gg = g.detach().requires_grad_(True)
    b = torch.zeros_like(gg).requires_grad_(True)
    y = op_bn_apply(x, torch.stack([m, v]), gg, b, p)
    return torch.stack(torch.autograd.grad(y, [m, v, gg, b], dy))


def op_lrn(x, p):
    """PyTorch's local_response_norm needs rank >= 3; kiln's also takes [N, C]."""
    xx = x.unsqueeze(-1) if x.dim() == 2 else x
    y = F.local_response_norm(xx, p["size"], alpha=f32(p["alpha"]), beta=f32(p["beta"]),
                              k=f32(p["k"]))
    return y.reshape(x.shape)


def op_slice(x, p):
    idx = tuple(slice(b, b + n) for b, n in zip(p["begin"], p["size"][:x.dim()]))
    return x[idx]


def op_pad(x, p):
    pads = []
    for d in reversed(range(x.dim())):
        pads += [p["before"][d], p["after"][d]]
    return F.pad(x, pads)


def philox_word0(seed, stream, index):
    """Word 0 of kiln__philox (src/rng.c): Philox4x32-10, counter (index, stream), key
    seed."""
    m = 0xFFFFFFFF
    c = [index & m, index >> 32 & m, stream & m, stream >> 32 & m]
    k0, k1 = seed & m, seed >> 32 & m
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & m, (p0 >> 32) ^ c[3] ^ k1, p0 & m]
        k0, k1 = (k0 + 0x9E3779B9) & m, (k1 + 0xBB67AE85) & m
    return c[0]


def op_dropout(x, p, run=1):
    """kiln's mask for training run `run` (the golden runs once): keep element i when
    (word0 >> 8) / 2^24 >= p, kept values times the f32 scale 1 / (1 - p)."""
    seed, pp = int(p["seed"]), f32(p["p"])
    keep = torch.tensor([(philox_word0(seed, run, i) >> 8) / 16777216.0 >= pp
                         for i in range(x.numel())], dtype=torch.bool).reshape(x.shape)
    return torch.where(keep, x * f32(p["scale"]), torch.zeros_like(x))


FWD.update({
    "conv2d": lambda i, p: F.conv2d(i[0], i[1], **conv_kw(p)),
    "conv2d_bwd_data": lambda i, p: op_conv_bwd_data(i[0], i[1], p),
    "conv2d_bwd_filter": lambda i, p: op_conv_bwd_filter(i[0], i[1], p),
    # conv2d, then + the bias per output channel, then kiln's relu when p["relu"].
    "conv2d_bias": lambda i, p: (lambda y: FWD["relu"]([y], p) if p["relu"] else y)(
        F.conv2d(i[0], i[1], **conv_kw(p)) + i[2].reshape(-1, 1, 1)
    ),
    # PyTorch's max pooling also takes the first maximum of a window and lets NaN win.
    "maxpool2d": lambda i, p: F.max_pool2d(i[0], **pool_kw(p)),
    "maxpool2d_bwd": lambda i, p: vjp(lambda x: F.max_pool2d(x, **pool_kw(p)), i[0], i[1]),
    # maxpool2d_bwd, then relu_bwd (threshold_backward at 0) on the same x.
    "maxpool2d_relu_bwd": lambda i, p: torch.where(
        i[0] > 0, vjp(lambda x: F.max_pool2d(x, **pool_kw(p)), i[0], i[1]), torch.zeros_like(i[0])
    ),
    "avgpool2d": lambda i, p: op_avgpool(i[0], p),
    "avgpool2d_bwd": lambda i, p: op_avgpool_bwd(i[0], p),
    "upsample_nearest": lambda i, p: F.interpolate(i[0], scale_factor=tuple(p["factor"]),
                                                   mode="nearest"),
    "upsample_nearest_bwd": lambda i, p: op_upsample_bwd(i[0], p),
    "bn_stats": lambda i, p: op_bn_stats(i[0]),
    "bn_stats_bwd": lambda i, p: op_bn_stats_bwd(i[0], i[1], i[2]),
    "bn_apply": lambda i, p: op_bn_apply(i[0], i[1], i[2], i[3], p),
    "bn_apply_bwd": lambda i, p: vjp(lambda x: op_bn_apply(x, i[1], i[2], 0 * i[2], p), i[0],
                                     i[3]),
    "bn_apply_bwd_params": lambda i, p: op_bn_apply_bwd_params(i[0], i[1], i[2], i[3], p),
    # The running-statistics update of a training layer graph: its output is empty.
    "bn_running_update": lambda i, p: torch.zeros(0),
    "lrn": lambda i, p: op_lrn(i[0], p),
    "lrn_bwd": lambda i, p: vjp(lambda x: op_lrn(x, p), i[0], i[1]),
    "concat": lambda i, p: torch.cat(i, dim=p["axis"]),
    "slice": lambda i, p: op_slice(i[0], p),
    "pad": lambda i, p: op_pad(i[0], p),
    "dropout": lambda i, p: op_dropout(i[0], p),
    "gather": lambda i, p: op_gather(i[0], i[1], p),
    "bucket_indices": lambda i, p: op_bucket_indices(i[0], p),
    "scatter_add": lambda i, p: op_scatter_add(i[0], i[1], p),
    # kiln: cond != 0 (NaN counts as true, -0 as false), for f32 and i32 conditions
    "where": lambda i, p: torch.where(i[0] != 0, i[1], i[2]),
    "sequence_mask": lambda i, p: op_sequence_mask(i[0], p),
    "layer_norm": lambda i, p: F.layer_norm(i[0], ln_shape(i[0], p), i[1], i[2], f32(p["eps"])),
    "layer_norm_stats": lambda i, p: op_layer_norm_stats(i[0], p),
    "layer_norm_bwd": lambda i, p: op_layer_norm_bwd(i[0], i[1], i[2], i[3], p),
    "layer_norm_bwd_params": lambda i, p: op_layer_norm_bwd(i[0], i[1], None, i[2], p, True),
})


# ---- recurrent ops (src/ops/rnn.c) ----
# RNN_SEQ's output is flat: blocks of [T, N, H] (RNN h; LSTM h, c, i, f, g, o, tanh c;
# GRU h, r, z, hn, n), then the last step's product h_{t-1} W_hh^T [N, G]. The states
# come from PyTorch's own cells (torch.lstm_cell, gru_cell, rnn_tanh_cell,
# rnn_relu_cell) fed xg through an identity input weight, so gate order and equations
# are PyTorch's; a padded step (mask 0) keeps the state and zeroes the saved gates.

RNN_BLOCKS = {0: 1, 1: 1, 2: 7, 3: 5}


def op_rnn_seq(xg, w, b, s0, mask, p):
    cell, rev = p["cell"], p["reverse"]
    t_all, n, g = xg.shape
    hid = w.shape[1]
    eye, zb = torch.eye(g, dtype=xg.dtype), torch.zeros(g, dtype=xg.dtype)
    h, c = s0[0], s0[1] if cell == 2 else None
    blocks = [[None] * t_all for _ in range(RNN_BLOCKS[cell])]
    a = None
    for t in (range(t_all - 1, -1, -1) if rev else range(t_all)):
        m = (mask[t] != 0).unsqueeze(1)
        a = h @ w.t()
        pre = xg[t] + a + b
        if cell == 2:
            h1, c1 = torch.lstm_cell(xg[t], (h, c), eye, w, zb, b)
            gi, gf, gg, go = pre.chunk(4, 1)
            saved = [torch.sigmoid(gi), torch.sigmoid(gf), torch.tanh(gg), torch.sigmoid(go),
                     torch.tanh(c1)]
        elif cell == 3:
            h1 = torch.gru_cell(xg[t], h, eye, w, zb, b)
            r, z = torch.sigmoid(pre[:, :hid]), torch.sigmoid(pre[:, hid:2 * hid])
            hn = a[:, 2 * hid:] + b[2 * hid:]
            saved = [r, z, hn, torch.tanh(xg[t][:, 2 * hid:] + r * hn)]
        else:
            f = torch.rnn_tanh_cell if cell == 0 else torch.rnn_relu_cell
            h1, saved = f(xg[t], h, eye, w, zb, b), []
        h = torch.where(m, h1, h)
        blocks[0][t] = h
        if cell == 2:
            c = torch.where(m, c1, c)
            blocks[1][t] = c
        for k, v in enumerate(saved):
            blocks[k + (2 if cell == 2 else 1)][t] = torch.where(m, v, torch.zeros_like(v))
    return torch.cat([torch.stack(bl).reshape(-1) for bl in blocks] + [a.reshape(-1)])


def op_rnn_seq_bwd(y, dy, w, s0, mask, p):
    """Fed arbitrary saved blocks, RNN_SEQ_BWD is not the derivative of anything PyTorch
    computes, so its rows are checked against the backward recurrence written out from
    the derivatives of PyTorch's cell equations, the saved blocks taken as given (the
    RNN_SEQ rows check the real backward pass by autograd through PyTorch's cells)."""
    cell, rev = p["cell"], p["reverse"]
    t_all, n = mask.shape
    g, hid = w.shape
    tnh = t_all * n * hid
    blk = [y[k * tnh:(k + 1) * tnh].reshape(t_all, n, hid) for k in range(RNN_BLOCKS[cell])]
    dyh = dy[:tnh].reshape(t_all, n, hid)
    dyc = dy[tnh:2 * tnh].reshape(t_all, n, hid) if cell == 2 else torch.zeros_like(dyh)
    dx = torch.zeros(t_all, n, g, dtype=y.dtype)
    dhg = torch.zeros(t_all, n, g, dtype=y.dtype)
    dh = torch.zeros(n, hid, dtype=y.dtype)
    dc = torch.zeros(n, hid, dtype=y.dtype)
    order = list(range(t_all - 1, -1, -1) if rev else range(t_all))
    for s in range(t_all - 1, -1, -1):
        t = order[s]
        tp = None if s == 0 else order[s - 1]
        hp = s0[0] if tp is None else blk[0][tp]
        m = (mask[t] != 0).unsqueeze(1)
        dht = dyh[t] + dh
        if cell == 2:
            cp = s0[1] if tp is None else blk[1][tp]
            gi, gf, gg, go, tc = (blk[k][t] for k in range(2, 7))
            dct = dyc[t] + dc + dht * go * (1 - tc * tc)
            gx = torch.cat([dct * gg * gi * (1 - gi), dct * cp * gf * (1 - gf),
                            dct * gi * (1 - gg * gg), dht * tc * go * (1 - go)], 1)
            gh, ndh, ndc = gx, torch.zeros_like(dh), dct * gf
        elif cell == 3:
            gr, gz, hn, gn = (blk[k][t] for k in range(1, 5))
            dan = dht * (1 - gz) * (1 - gn * gn)
            dar, daz = dan * hn * gr * (1 - gr), dht * (hp - gn) * gz * (1 - gz)
            gx, gh = torch.cat([dar, daz, dan], 1), torch.cat([dar, daz, dan * gr], 1)
            ndh, ndc = dht * gz, torch.zeros_like(dc)
        else:
            v = blk[0][t]
            gx = dht * (1 - v * v) if cell == 0 else torch.where(v > 0, dht, torch.zeros_like(v))
            gh, ndh, ndc = gx, torch.zeros_like(dh), torch.zeros_like(dc)
        dx[t] = torch.where(m, gx, torch.zeros_like(gx))
        dhg[t] = torch.where(m, gh, torch.zeros_like(gh))
        dh = torch.where(m, ndh, dht) + dhg[t] @ w
        dc = torch.where(m, ndc, dc + dyc[t]) if cell == 2 else dc
    parts = [dx.reshape(-1)] + ([dhg.reshape(-1)] if cell == 3 else [])
    return torch.cat(parts + [dh.reshape(-1), dc.reshape(-1)])


FWD.update({
    "rnn_seq": lambda i, p: op_rnn_seq(i[0], i[1], i[2], i[3], i[4], p),
    "rnn_seq_bwd": lambda i, p: op_rnn_seq_bwd(i[0], i[1], i[2], i[3], i[4], p),
})
# ---- ops whose params struct their row in src/ops/op_list.h declares (KILN_OP_P) ----
# golden_dump writes those params as the struct's 4-byte words ({"raw": [...]}); the
# fields, in struct order, as struct-module codes (an array field: count and code).

RAW_PARAMS = {
    "gather": [("axis", "i"), ("padding_idx", "i"), ("zero_pad", "i"), ("outer", "i"),
               ("v", "i"), ("j", "i"), ("inner", "i"), ("tile", "i")],
    "where": [("cond_i32", "i"), ("rank", "i"), ("dims", "8I"), ("bcast", "3I")],
    "sequence_mask": [("max_len", "i")],
    "matmul_bias": [("trans_a", "i"), ("trans_b", "i"), ("relu", "i")],
    "matmul_relu_bwd": [("trans_a", "i"), ("trans_b", "i")],
    "conv2d_bias": [("stride", "2i"), ("pad", "2i"), ("dilation", "2i"), ("groups", "i"),
                    ("in_hw", "2i"), ("kernel", "2i"), ("relu", "i")],
    "matmul_db": [("trans_a", "i"), ("trans_b", "i")],
}
RAW_PARAMS["scatter_add"] = RAW_PARAMS["bucket_indices"] = RAW_PARAMS["gather"]
RAW_PARAMS["layer_norm"] = [("eps", "f"), ("norm_dims", "i"), ("rows", "i"), ("cols", "i")]
for _op in ("layer_norm_stats", "layer_norm_bwd", "layer_norm_bwd_params"):
    RAW_PARAMS[_op] = RAW_PARAMS["layer_norm"]


def decode_params(op, p):
    """The params dict of a node: golden_dump's JSON, or its raw words decoded."""
    if "raw" not in p:
        return p
    raw = struct.pack("<%di" % len(p["raw"]), *p["raw"])
    out, off = {}, 0
    for name, code in RAW_PARAMS[op]:
        vals = struct.unpack_from("<" + code, raw, off)
        off += struct.calcsize("<" + code)
        out[name] = list(vals) if code[0].isdigit() else vals[0]
    return out


def op_gather(x, idx, p):
    """kiln's gather (index_select along axis; with padding_idx, F.embedding's rule: the
    padding row is read but gets no gradient). kiln reads zeros for an index outside
    [0, V) (PyTorch raises) and, with zero_pad, at the padding row."""
    a, pad = p["axis"], p["padding_idx"]
    v = x.shape[a]
    valid = (idx >= 0) & (idx < v)
    if p["zero_pad"] and pad >= 0:
        valid = valid & (idx != pad)
    ic = torch.where(valid, idx, torch.zeros_like(idx))
    rest = list(x.shape[:a]) + list(x.shape[a + 1:])
    w = x.movedim(a, 0).reshape(v, -1)
    if x.is_floating_point():
        e = F.embedding(ic, w, padding_idx=pad if pad >= 0 else None)
        e = e * valid.unsqueeze(-1).to(e.dtype)
    else:
        e = torch.where(valid.unsqueeze(-1), w[ic], torch.zeros_like(w[ic]))
    r = idx.dim()
    e = e.reshape(list(idx.shape) + rest)
    # e is idx dims, then x's dims before axis, then after it: put idx dims at axis
    perm = list(range(r, r + a)) + list(range(r)) + list(range(r + a, r + len(rest)))
    return e.permute(perm)


def op_scatter_add(src, idx, p):
    """Tensor.index_add into zeros along axis, without the padding row and indices
    outside [0, size) (kiln skips them)."""
    a, pad, v = p["axis"], p["padding_idx"], p["v"]
    valid = (idx >= 0) & (idx < v) & (idx != pad)
    ic = torch.where(valid, idx, torch.zeros_like(idx)).reshape(-1)
    r = idx.dim()
    lead, tail = list(src.shape[:a]), list(src.shape[a + r:])
    s = src.reshape(lead + [ic.numel()] + tail)
    m = valid.reshape([1] * len(lead) + [ic.numel()] + [1] * len(tail)).to(src.dtype)
    out = torch.zeros(lead + [v] + tail, dtype=src.dtype)
    return out.index_add(a, ic, s * m)


def op_bucket_indices(idx, p):
    """kiln's bucket_indices: the positions of the indices in [0, v) other than the
    padding row, grouped by block of `tile` rows in index order, after each block's start
    and the total; the unused end of the list is -1."""
    v, t, pad = p["v"], p["tile"], p["padding_idx"]
    ids = [int(i) for i in idx.reshape(-1)]
    nb = (v + t - 1) // t
    blocks = [[j for j, i in enumerate(ids) if 0 <= i < v and i != pad and i // t == b]
              for b in range(nb)]
    starts, k = [], 0
    for b in blocks:
        starts.append(k)
        k += len(b)
    out = starts + [k] + [j for b in blocks for j in b] + [-1] * (len(ids) - k)
    return torch.tensor(out, dtype=torch.int64)


def ln_shape(x, p):
    return list(x.shape[x.dim() - p["norm_dims"]:])


def ln_mean_rstd(x, st, p):
    """kiln's [rows, 2] statistics as native_layer_norm's mean and rstd (x's leading dims,
    then ones). Contiguous copies: the CPU kernel reads them as dense arrays whatever
    their strides (a column view of st gives wrong results)."""
    lead = list(x.shape[:x.dim() - p["norm_dims"]]) + [1] * p["norm_dims"]
    return st[:, 0].contiguous().reshape(lead), st[:, 1].contiguous().reshape(lead)


def op_layer_norm_stats(x, p):
    """Per row: the mean and 1 / sqrt(biased variance + eps) (var_mean over the normalized
    dims)."""
    dims = list(range(x.dim() - p["norm_dims"], x.dim()))
    var, mean = torch.var_mean(x, dim=dims, unbiased=False)
    return torch.stack([mean.reshape(-1), torch.rsqrt(var.reshape(-1) + f32(p["eps"]))], dim=1)


def op_layer_norm_bwd(x, st, g, dy, p, params=False):
    """aten.native_layer_norm_backward, which takes the statistics as kiln's _BWD ops do
    (the saved mean and rstd of the forward pass): dx, or d gamma and d beta as [2, cols]."""
    mean, rstd = ln_mean_rstd(x, st, p)
    shape = ln_shape(x, p)
    if g is None:
        g = torch.ones(shape, dtype=x.dtype)
    dx, dg, db = A.native_layer_norm_backward(dy, x, shape, mean, rstd, g, torch.zeros_like(g),
                                              [True, True, True])
    return torch.stack([dg.reshape(-1), db.reshape(-1)]) if params else dx


def op_sequence_mask(lengths, p):
    t = torch.arange(p["max_len"], dtype=lengths.dtype)
    return (t < lengths.unsqueeze(-1)).to(FLOAT)


def run_bn_running(ins, rvs, p):
    """BN_RUNNING_UPDATE(running_mean, running_var, stats) over the harness's steps (at
    step t > 1 the running variance input is replaced by in1_s<t>): PyTorch's update,
    r = (1 - momentum) r + momentum s, with the unbiased variance var * M / (M - 1)."""
    rm, st = ins[0].clone(), ins[2]
    m, cnt = f32(p["momentum"]), p["count"]
    for rv in rvs:
        rm = (1 - m) * rm + m * st[0]
        rv = (1 - m) * rv + m * st[1] * (cnt / (cnt - 1) if cnt > 1 else 1.0)
    return {"out0": rm, "out1": rv}


def run_accumulate(ins, xs, p):
    """ACCUMULATE(dst, x) over the harness's steps (at step t > 1 x is in1_s<t>):
    dst = alpha dst + beta x, a zero coefficient dropping its term."""
    y = ins[0].clone()
    a, b = f32(p["alpha"]), f32(p["beta"])
    for x in xs:
        v = a * y if a != 0 else torch.zeros_like(y)
        y = v + b * x if b != 0 else v
    return {"out0": y}


FLOAT = torch.float64  # set per file from metadata "precision"


def as64(t):
    """Inputs in the file's computing precision: float64 (rounded once to float32 at the
    end), or float32 for special-value rows (overflow must happen where kiln's does)."""
    return t.to(FLOAT) if t.is_floating_point() else t.to(torch.int64)


def run_bwd(op, ins, p):
    if op in BWD_ELEM:
        return BWD_ELEM[op](ins[0], ins[1], p)
    x = ins[0].detach().requires_grad_(True)
    y = FWD[BWD_LOSS[op]]([x, ins[1]], p)
    y.backward(ins[2].reshape(()))
    return x.grad


def run_xent_fused(ins, p):
    """softmax_xent_fused: autograd's gradient of softmax_xent (dy = ins[2]) flattened,
    then the loss itself, concatenated ("out"); rows with a label outside [0, C) get a
    zero gradient as kiln defines it (autograd's 0 times a NaN softmax would be NaN).
    With a fourth input (its rider), "out3": the argmax of the scores (kiln's rule on
    NaN, as the argmax op)."""
    x = ins[0].detach().requires_grad_(True)
    y = FWD["softmax_xent"]([x, ins[1]], p)
    y.backward(ins[2].reshape(()))
    cols = ins[0].shape[1]
    valid = (ins[1] >= 0) & (ins[1] < cols)
    g = torch.where(valid.reshape(-1, 1), x.grad, torch.zeros_like(x.grad))
    res = {"out": torch.cat([g.reshape(-1), y.detach().reshape(1)])}
    if len(ins) == 4:
        res["out3"] = FWD["argmax"]([ins[0]], p)
    return res


def run_optim(op, ins, grads, p):
    """Steps step0 .. step0 + len(grads) - 1 of torch.optim with the gradient grads[k] at
    step k. kiln's state inputs are the state left by step step0 - 1."""
    w = ins[0].clone()
    t0 = p["step"]
    if op == "sgd_update":
        opt = torch.optim.SGD([w], lr=f32(p["lr"]), momentum=f32(p["momentum"]),
                              dampening=f32(p["dampening"]),
                              weight_decay=f32(p["weight_decay"]), nesterov=bool(p["nesterov"]))
        if t0 > 1 and p["momentum"] != 0:
            opt.state[w]["momentum_buffer"] = ins[2].clone()
    elif op == "rmsprop_update":
        opt = torch.optim.RMSprop([w], lr=f32(p["lr"]), alpha=f32(p["alpha"]), eps=f32(p["eps"]),
                                  weight_decay=f32(p["weight_decay"]))
        opt.state[w] = {"step": torch.tensor(float(t0 - 1)), "square_avg": ins[2].clone()}
    elif op == "adagrad_update":
        # kiln's lr is the step's rate; lr_decay is applied by the host (src/train/optim.c)
        opt = torch.optim.Adagrad([w], lr=f32(p["lr"]), eps=f32(p["eps"]),
                                  weight_decay=f32(p["weight_decay"]))
        opt.state[w]["sum"] = ins[2].clone()
    else:
        cls = torch.optim.AdamW if p["decoupled"] else torch.optim.Adam
        opt = cls([w], lr=f32(p["lr"]), betas=(f32(p["beta1"]), f32(p["beta2"])),
                  eps=f32(p["eps"]), weight_decay=f32(p["weight_decay"]))
        opt.state[w] = {"step": torch.tensor(float(t0 - 1)), "exp_avg": ins[2].clone(),
                        "exp_avg_sq": ins[3].clone()}
    for g in grads:
        w.grad = g.clone()
        opt.step()
    st = opt.state[w]
    # SGD and Adam write the gradient too: opt.zero_grad(set_to_none=False) after the
    # step when clear_grad is set, else the last step's gradient as it was fed.
    g1 = torch.zeros_like(grads[-1]) if p.get("clear_grad") else grads[-1]
    if op == "sgd_update":
        v = st["momentum_buffer"] if p["momentum"] != 0 else ins[2]
        return {"out0": w, "out1": g1, "out2": v}
    if op == "rmsprop_update":
        return {"out0": w, "out2": st["square_avg"]}
    if op == "adagrad_update":
        return {"out0": w, "out2": st["sum"]}
    return {"out0": w, "out1": g1, "out2": st["exp_avg"], "out3": st["exp_avg_sq"]}


def compute(tensors, meta):
    global FLOAT
    FLOAT = torch.float32 if meta.get("precision") == "f32" else torch.float64
    nodes = json.loads(meta["graph"])
    n_in = int(meta["n_in"])
    ins = [as64(tensors["in%d" % i]) for i in range(n_in)]
    grad_idx = [int(s) for s in meta["grad"].split(",") if s]
    res = {}
    first = nodes[0]["op"]
    if len(nodes) == 1 and first in ("sgd_update", "adam_update", "rmsprop_update",
                                     "adagrad_update"):
        steps = int(meta["steps"])
        grads = [ins[1]] + [as64(tensors["in1_s%d" % t]) for t in range(2, steps + 1)]
        res = run_optim(first, ins, grads, nodes[0]["params"])
    elif len(nodes) == 1 and first == "accumulate":
        steps = int(meta["steps"])
        xs = [ins[1]] + [as64(tensors["in1_s%d" % t]) for t in range(2, steps + 1)]
        res = run_accumulate(ins, xs, nodes[0]["params"])
    elif len(nodes) == 1 and first == "bn_running_update":
        steps = int(meta["steps"])
        rvs = [ins[1]] + [as64(tensors["in1_s%d" % t]) for t in range(2, steps + 1)]
        res = run_bn_running(ins, rvs, nodes[0]["params"])
    elif len(nodes) == 1 and first == "matmul_db":
        # the product, and the written source db: the sums of a (in0) over its rows
        res["out"] = FWD["matmul"](ins[:2], decode_params(first, nodes[0]["params"]))
        res["out2"] = ins[0].sum(0).reshape(ins[2].shape)
    elif len(nodes) == 1 and first == "softmax_xent_fused":
        res = run_xent_fused([ins[int(s[2:])] for s in nodes[0]["src"]], nodes[0]["params"])
    elif len(nodes) == 1 and (first in BWD_ELEM or first in BWD_LOSS):
        res["out"] = run_bwd(first, [ins[int(s[2:])] for s in nodes[0]["src"]],
                             nodes[0]["params"])
    else:
        leaves = [t.detach().requires_grad_(i in grad_idx) for i, t in enumerate(ins)]
        env = {"in%d" % i: t for i, t in enumerate(leaves)}
        y = None
        for nd in nodes:
            # Leaves that are not case inputs (a layer's running statistics) are None:
            # the ops that take them ignore them in a training run.
            v = FWD[nd["op"]]([env.get(s) for s in nd["src"]],
                              decode_params(nd["op"], nd["params"]))
            env[nd["id"]] = v
            if nd["op"] != "bn_running_update":  # in place, empty output: not the case's y
                y = v
        res["out"] = y
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
        out["out"] = out["out"].reshape(json.loads(meta["out_shape"]))
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_goldens.py <dir> [case...]")
    d = sys.argv[1]
    picks = set(sys.argv[2:])
    torch.set_default_dtype(torch.float64)
    n = 0
    files = []
    for root, _, names in os.walk(d):
        files += [os.path.join(root, fn) for fn in names if fn.endswith(".safetensors")]
    for path in sorted(files):
        tensors, meta = read_st(path)
        if "graph" not in meta or (picks and meta["case"] not in picks):
            continue
        keep = {k: v for k, v in tensors.items()
                if k.startswith("in") or k in ("w", "params", "graph_hash")}
        keep.update(compute(tensors, meta))
        meta["torch_version"] = torch.__version__
        write_st(path, keep, meta)
        n += 1
    print("wrote PyTorch %s goldens for %d cases in %s" % (torch.__version__, n, d))


if __name__ == "__main__":
    main()
