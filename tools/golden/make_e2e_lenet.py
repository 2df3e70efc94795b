#!/usr/bin/python3
"""Writes kiln's LeNet-5 end-to-end training goldens (tests/golden/e2e/lenet_*).

LeNet-5 for 28x28 inputs, as kiln's conv layers build it (PyTorch names and layouts):
  conv1  nn.Conv2d(1, 6, 5, padding=2)   weight [6, 1, 5, 5], bias [6]    -> ReLU -> max pool 2
  conv2  nn.Conv2d(6, 16, 5)             weight [16, 6, 5, 5], bias [16]  -> ReLU -> max pool 2
  fc1    nn.Linear(400, 120) -> ReLU, fc2 nn.Linear(120, 84) -> ReLU, fc3 nn.Linear(84, 10)
(61,706 parameters), flattened between conv2's pool and fc1 in C, H, W order. The initial
weights are PyTorch's default initialization under torch.manual_seed(0). The model trains
for STEPS steps on the MLP golden's batches (e2e/mlp_batches: x [NB, BATCH, 784] are the
28x28 images, read as [BATCH, 1, 28, 28]), batch s % NB at step s, with softmax
cross-entropy (mean over the batch), once with SGD (momentum) and once with Adam, in
float64 (the golden) and in float32 (PyTorch's own float32 result), and writes:
  lenet_init.safetensors    the ten parameters above (F32)
  lenet_curves.safetensors  <opt>_loss [STEPS] (float64 run), <opt>_loss_f32 [STEPS],
                            <opt>_loss_f32_seqconv [STEPS] (float32 with the convolutions
                            summed in the plain-loop order, see conv_seq); the optimizer
                            settings are in __metadata__.
The seqconv curve measures how far another legitimate float32 summation order of the
convolutions moves the training (tests/golden/test_e2e.c widens its bound by it).
Usage: make_e2e_lenet.py <out dir> [fashion-mnist dir]
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_e2e import BATCH, NB, STEPS, MEAN, STD, load_batches, write_curves  # noqa: E402
from make_goldens import write_st  # noqa: E402

NAMES = ["conv1", "conv2", "fc1", "fc2", "fc3"]


def init_weights():
    torch.manual_seed(0)
    mods = [torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.Conv2d(6, 16, 5),
            torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)]
    w = {}
    for n, m in zip(NAMES, mods):
        w[n + ".weight"] = m.weight.detach().float().contiguous()
        w[n + ".bias"] = m.bias.detach().float().contiguous()
    return w


def forward(p, x):
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"])), 2)
    h = h.reshape(h.shape[0], -1)
    h = F.relu(F.linear(h, p["fc1.weight"], p["fc1.bias"]))
    h = F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"]))
    return F.linear(h, p["fc3.weight"], p["fc3.bias"])


def conv_seq(x, w, b, padding=0):
    """conv2d + bias as a float32 loop over the (c, i, j) taps in order, each product
    rounded and then added: the order of a direct GPU kernel (kiln's Vulkan and OpenCL
    shaders), unlike OpenBLAS's blocked GEMM behind PyTorch's CPU convolution."""
    n, _, h, _ = x.shape
    k, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), padding=padding)
    wf = w.reshape(k, -1)
    acc = torch.zeros(n, k, cols.shape[2], dtype=x.dtype)
    for t in range(wf.shape[1]):
        acc = acc + wf[:, t].reshape(1, k, 1) * cols[:, t:t + 1, :]
    return acc.reshape(n, k, h + 2 * padding - kh + 1, -1) + b.reshape(1, k, 1, 1)


def forward_seqconv(p, x):
    h = F.max_pool2d(F.relu(conv_seq(x, p["conv1.weight"], p["conv1.bias"], 2)), 2)
    h = F.max_pool2d(F.relu(conv_seq(h, p["conv2.weight"], p["conv2.bias"])), 2)
    h = h.reshape(h.shape[0], -1)
    h = F.relu(F.linear(h, p["fc1.weight"], p["fc1.bias"]))
    h = F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"]))
    return F.linear(h, p["fc3.weight"], p["fc3.bias"])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/e2e"
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(1)
    x, y = load_batches(src)
    init = init_weights()
    meta = {"model": "lenet-5 28x28: conv 6@5x5 pad 2, relu, max pool 2, conv 16@5x5, relu, "
                     "max pool 2, fc 120 relu, fc 84 relu, fc 10; softmax cross-entropy",
            "batches_file": "mlp_batches.safetensors",
            "batch": str(BATCH), "batches": str(NB), "steps": str(STEPS),
            "normalize": "(pixel / 255 - %g) / %g" % (MEAN, STD),
            "torch_version": torch.__version__}
    write_st(os.path.join(out, "lenet_init.safetensors"), init, meta)
    write_curves(os.path.join(out, "lenet_curves.safetensors"), init, x, y, meta, forward,
                 (1, 28, 28), {"seqconv": forward_seqconv})

if __name__ == "__main__":
    main()
