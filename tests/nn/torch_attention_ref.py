#!/usr/bin/env python3
"""Compares kiln's attention layers (CPU backend) with PyTorch: nn.MultiheadAttention
(time first with a key padding mask; batch first, causal, without biases),
nn.TransformerEncoderLayer (pre-norm with tanh GELU and a key padding mask; post-norm
with ReLU and a causal mask), nn.LayerNorm over two dims, additive attention pooling
written out in torch, and the sinusoidal position table. The kiln parameters load into
the torch modules by their names (state dicts), so the names and layouts are checked
too; outputs, attention weights and the gradients of loss = sum(y^2) / 2 with respect
to every parameter and input are compared.

Usage: torch_attention_ref.py ATTN_DUMP_EXE. Exits 77 (SKIP) when torch is not
importable (Debian: /usr/bin/python3 has it)."""
import math
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

TOL = 2e-5  # f32 layers of a few sums of at most 16 terms, relative to max(1, |ref|)
LENS = [5, 3]


def pad_mask(n_keys):
    """PyTorch's key_padding_mask: True at padding."""
    return torch.arange(n_keys)[None, :] >= torch.tensor(LENS)[:, None]


def causal(n):
    return torch.triu(torch.ones(n, n, dtype=torch.bool), 1)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def module(tag):
    if tag == "mha":
        return torch.nn.MultiheadAttention(8, 2, batch_first=False)
    if tag == "mha_causal":
        return torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True)
    if tag == "enc_pre":
        return torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, gelu_tanh, batch_first=True,
                                                norm_first=True)
    if tag == "enc_post":
        return torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, "relu", norm_first=False)
    if tag == "ln":
        return torch.nn.LayerNorm([4, 5])
    return None


def forward(tag, m, t):
    """The output (and attention weights) of case tag; t maps kiln's entry names to
    leaf tensors."""
    if tag == "mha":
        return m(t["q"], t["kv"], t["kv"], key_padding_mask=pad_mask(5))
    if tag == "mha_causal":
        return m(t["x"], t["x"], t["x"], attn_mask=causal(5))
    if tag == "enc_pre":
        return m(t["x"], src_key_padding_mask=pad_mask(5)), None
    if tag == "enc_post":
        return m(t["x"], src_mask=causal(5)), None
    if tag == "ln":
        return m(t["x"]), None
    if tag == "pool":
        h = t["x"]
        e = F.linear(torch.tanh(F.linear(h, t["pool.proj.weight"], t["pool.proj.bias"])),
                     t["pool.score.weight"]).squeeze(-1)
        a = torch.softmax(e.masked_fill(pad_mask(5), -1e9), -1)
        return (a.unsqueeze(-1) * h).sum(1), a
    # sinusoidal positions, computed in double
    pos = torch.zeros(7, 10, dtype=torch.float64)
    for p in range(7):
        for c in range(10):
            f = 10000.0 ** (-(c - c % 2) / 10)
            pos[p, c] = math.sin(p * f) if c % 2 == 0 else math.cos(p * f)
    return t["x"] + pos.float(), None


def main(exe):
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([exe, d], check=True, capture_output=True, text=True).stdout

        def load(tag, what, shape):
            return torch.from_numpy(np.fromfile(f"{d}/{tag}_{what}.bin",
                                                dtype=np.float32).reshape(shape))

        def check(what, got, ref):
            nonlocal bad
            err = (got.reshape(ref.shape) - ref).abs().max().item()
            ok = err <= TOL * max(1.0, ref.abs().max().item())
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {what} {tuple(ref.shape)}: max abs err {err:.3g}")

        inputs = {"mha": {"q": (4, 2, 8), "kv": (5, 2, 8)}, "ln": {"x": (3, 4, 5)},
                  "enc_post": {"x": (5, 2, 8)}, "sin": {"x": (7, 10)},
                  "pool": {"x": (2, 5, 8), "pool.proj.weight": (6, 8), "pool.proj.bias": (6,),
                           "pool.score.weight": (1, 6)}}
        for line in out.splitlines():
            tag, *dims = line.split()
            m = module(tag)
            shapes = dict(inputs.get(tag, {"x": (2, 5, 8)}))
            pre = tag.split("_")[0] + "."  # kiln's layer name: the module's prefix
            if m is not None:
                shapes.update({pre + k: tuple(v.shape) for k, v in m.state_dict().items()})
            t = {k: load(tag, k, s).requires_grad_() for k, s in shapes.items()}
            if m is not None:
                m.load_state_dict({k: t[pre + k].detach() for k in m.state_dict()})
                for k, p in m.named_parameters():  # gradients of the module's own leaves
                    t[pre + k] = p
            y, w = forward(tag, m, t)
            (y * y).sum().mul(0.5).backward()
            check(f"{tag} output", load(tag, "y", tuple(int(v) for v in dims)), y.detach())
            if w is not None:
                check(f"{tag} weights", load(tag, "weights", tuple(w.shape)), w.detach())
            for k, v in t.items():
                check(f"{tag} d {k}", load(tag, f"{k}.grad", tuple(v.shape)), v.grad)
    print("FAILED" if bad else "all match")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
