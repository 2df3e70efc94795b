#!/usr/bin/python3
"""Times training steps of kiln's benchmark models in PyTorch on the CPU, the peer of
bench/bench_train (same models, initialization family, optimizer and data):

  torch_train.py [--warmup N] [--data DIR] MODEL BATCH STEPS

MODEL is mlp (784-256-128-10 ReLU), lenet (LeNet-5 as kiln_model_build makes it) or
resnet8 (ResNet-8: kiln_model_build's resnet with one basic block per stage). SGD with
momentum 0.9 (lr 0.01; resnet8 0.05 with weight decay 5e-4), loss.item() every step as
kiln reads its loss. Fashion-MNIST normalized with the training set's mean and std,
shuffled with a fixed seed (random data of the same size when not installed). The
threads are torch.set_num_threads(KILN_BENCH_THREADS, default 2). After N warm-up steps
(default 5) it times STEPS steps and prints one line:

  torch cpu MODEL batch B: X images/s (S steps in T s, loss L)
"""
import gzip
import os
import struct
import sys
import time

import torch
import torch.nn as nn


def load(data):
    path = os.path.join(data, "train-images-idx3-ubyte.gz")
    lpath = os.path.join(data, "train-labels-idx1-ubyte.gz")
    if not (os.path.exists(path) and os.path.exists(lpath)):
        g = torch.Generator().manual_seed(1)
        return torch.rand(60000, 1, 28, 28, generator=g) - 0.5, \
            torch.randint(0, 10, (60000,), generator=g), "random"
    with gzip.open(path, "rb") as f:
        magic, n, r, c = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803
        x = torch.frombuffer(bytearray(f.read(n * r * c)), dtype=torch.uint8)
    with gzip.open(lpath, "rb") as f:
        magic, n2 = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and n2 == n
        y = torch.frombuffer(bytearray(f.read(n)), dtype=torch.uint8).long()
    x = x.view(n, 1, r, c).float() / 255.0
    x = (x - x.mean()) / x.std(unbiased=False)
    return x, y, "Fashion-MNIST"


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


class Block(nn.Module):
    """torchvision's BasicBlock with a 1x1 conv + batch norm shortcut where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


def resnet8():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def main():
    args, warm, data = sys.argv[1:], 5, "/usr/share/datasets/fashion-mnist"
    while args and args[0].startswith("--") and len(args) > 1:
        if args[0] == "--warmup":
            warm = int(args[1])
        elif args[0] == "--data":
            data = args[1]
        else:
            break
        args = args[2:]
    if len(args) != 3:
        sys.exit("usage: torch_train.py [--warmup N] [--data DIR] mlp|lenet|resnet8 BATCH STEPS")
    name, batch, steps = args[0], int(args[1]), int(args[2])
    models = {"mlp": (mlp, 0.01, 0.0), "lenet": (lenet, 0.01, 0.0),
              "resnet8": (resnet8, 0.05, 5e-4)}
    if name not in models:
        sys.exit("torch_train.py: unknown model %s" % name)
    torch.set_num_threads(int(os.environ.get("KILN_BENCH_THREADS", "2")))
    torch.manual_seed(0)
    x, y, _ = load(data)
    make, lr, wd = models[name]
    model = make()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0])
    per_epoch = x.shape[0] // batch

    def step(i):
        j = i % per_epoch
        idx = perm[j * batch:(j + 1) * batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(warm):
        step(i)
    t0 = time.perf_counter()
    loss = 0.0
    for i in range(warm, warm + steps):
        loss = step(i)
    secs = time.perf_counter() - t0
    print("torch cpu %s batch %d: %.0f images/s (%d steps in %.3f s, loss %.4f)"
          % (name, batch, steps * batch / secs, steps, secs, loss))


if __name__ == "__main__":
    main()
