#!/usr/bin/python3
"""Writes the end-to-end golden of an LSTM classifier (tests/golden/e2e/lstm_*).

A bidirectional nn.LSTM(8, 16) over padded batches of variable-length sequences (time
first, each sequence packed with pack_padded_sequence) feeds its two final hidden states
(forward direction after each sequence's last real step, reverse direction after step 0),
concatenated, to nn.Linear(32, 4); softmax cross-entropy (mean over the batch). It starts
from PyTorch's default initialization under torch.manual_seed(0) and trains STEPS steps
on NB fixed batches (batch s % NB at step s), once with SGD (momentum) and once with
Adam, in float64 (the golden trajectory) and in float32 (PyTorch's own float32 result,
for the tolerance). The data: x ~ N(0, 1) of shape [T, BATCH, 8], lengths uniform in
[3, T] (steps past a sequence's length are zero and never read), and the label of a
sequence is the argmax of the sums over its real steps of its first 4 features, a rule
an LSTM learns. Writes
  lstm_init.safetensors     rnn.weight_ih_l0, ..., rnn.bias_hh_l0_reverse, fc.weight,
                            fc.bias (kiln_rnn's names: "rnn." + PyTorch's)
  lstm_batches.safetensors  x [NB, T, BATCH, 8] F32, lengths [NB, BATCH] I32,
                            y [NB, BATCH] I32
  lstm_curves.safetensors   <opt>_loss [STEPS] (float64), <opt>_loss_f32 [STEPS]
Usage: make_e2e_lstm.py [out dir]
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import write_st  # noqa: E402

T, BATCH, FEAT, HIDDEN, CLASSES, NB, STEPS = 12, 16, 8, 16, 4, 10, 50
OPTIMS = {
    "sgd": {"kind": "sgd", "lr": 0.1, "momentum": 0.9},
    "adam": {"kind": "adam", "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


def f32(v):
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def make_batches():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(NB, T, BATCH, FEAT, generator=g)
    lengths = torch.randint(3, T + 1, (NB, BATCH), generator=g, dtype=torch.int64)
    steps = torch.arange(T).reshape(1, T, 1)
    real = (steps < lengths.reshape(NB, 1, BATCH)).to(torch.float32)
    x = x * real.unsqueeze(-1)
    y = x[..., :CLASSES].sum(dim=1).argmax(dim=-1)
    return x.float(), lengths.to(torch.int32), y.to(torch.int32)


def init_weights():
    torch.manual_seed(0)
    rnn = torch.nn.LSTM(FEAT, HIDDEN, bidirectional=True)
    fc = torch.nn.Linear(2 * HIDDEN, CLASSES)
    p = {"rnn." + k: v.detach().float() for k, v in rnn.named_parameters()}
    p.update({"fc." + k: v.detach().float() for k, v in fc.named_parameters()})
    return p


def train(init, x, lengths, y, o, dtype):
    rnn = torch.nn.LSTM(FEAT, HIDDEN, bidirectional=True).to(dtype)
    fc = torch.nn.Linear(2 * HIDDEN, CLASSES).to(dtype)
    with torch.no_grad():
        for k, v in rnn.named_parameters():
            v.copy_(init["rnn." + k])
        for k, v in fc.named_parameters():
            v.copy_(init["fc." + k])
    params = list(rnn.parameters()) + list(fc.parameters())
    if o["kind"] == "sgd":
        opt = torch.optim.SGD(params, lr=f32(o["lr"]), momentum=f32(o["momentum"]))
    else:
        opt = torch.optim.Adam(params, lr=f32(o["lr"]), betas=(f32(o["beta1"]), f32(o["beta2"])),
                               eps=f32(o["eps"]))
    losses = []
    for s in range(STEPS):
        xb = x[s % NB].to(dtype)
        packed = pack_padded_sequence(xb, lengths[s % NB].long(), enforce_sorted=False)
        _, (h_n, _) = rnn(packed)
        logits = fc(torch.cat([h_n[0], h_n[1]], dim=1))
        loss = F.cross_entropy(logits, y[s % NB].long())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return torch.tensor(losses, dtype=torch.float64)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/e2e"
    torch.set_num_threads(1)
    x, lengths, y = make_batches()
    init = init_weights()
    meta = {"model": "bidirectional lstm(%d, %d) final states -> linear(%d, %d), softmax "
                     "cross-entropy" % (FEAT, HIDDEN, 2 * HIDDEN, CLASSES),
            "batch": str(BATCH), "batches": str(NB), "steps": str(STEPS), "t": str(T),
            "torch_version": torch.__version__}
    write_st(os.path.join(out, "lstm_init.safetensors"), init, meta)
    write_st(os.path.join(out, "lstm_batches.safetensors"),
             {"x": x, "lengths": lengths, "y": y}, meta)
    curves = {}
    for name, o in OPTIMS.items():
        c64 = train(init, x, lengths, y, o, torch.float64)
        c32 = train(init, x, lengths, y, o, torch.float32)
        curves[name + "_loss"] = c64.float()
        curves[name + "_loss_f32"] = c32.float()
        meta[name] = json.dumps(o)
        gap = ((c32 - c64).abs() / c64.abs()).max()
        print("%s: loss %.4f -> %.4f; float32 vs float64 max rel gap %.2e"
              % (name, c64[0], c64[-1], gap))
    write_st(os.path.join(out, "lstm_curves.safetensors"), curves, meta)


if __name__ == "__main__":
    main()
