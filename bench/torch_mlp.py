#!/usr/bin/python3
"""Times one training epoch of the 784-256-128-10 MLP in PyTorch on the CPU with 2
threads (SGD, momentum 0.9, lr 0.01; loss.item() every step, as kiln does), at batch
64 and 256, on Fashion-MNIST (normalized with the training set's mean and std), or on
random data when it is not installed. Prints images per second in the format of
bench_mlp: "torch cpu batch B: X images/s (...)"."""
import gzip
import os
import struct
import sys
import time

import torch

DATA = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"


def load():
    path = os.path.join(DATA, "train-images-idx3-ubyte.gz")
    lpath = os.path.join(DATA, "train-labels-idx1-ubyte.gz")
    if not (os.path.exists(path) and os.path.exists(lpath)):
        print("data: random (Fashion-MNIST not found in %s)" % DATA)
        g = torch.Generator().manual_seed(1)
        return torch.rand(60000, 784, generator=g) - 0.5, torch.randint(0, 10, (60000,), generator=g)
    with gzip.open(path, "rb") as f:
        magic, n, r, c = struct.unpack(">IIII", f.read(16))
        assert magic == 0x803
        x = torch.frombuffer(bytearray(f.read(n * r * c)), dtype=torch.uint8)
    with gzip.open(lpath, "rb") as f:
        magic, n2 = struct.unpack(">II", f.read(8))
        assert magic == 0x801 and n2 == n
        y = torch.frombuffer(bytearray(f.read(n)), dtype=torch.uint8).long()
    x = x.view(n, r * c).float() / 255.0
    x = (x - x.mean()) / x.std(unbiased=False)
    print("data: Fashion-MNIST from %s" % DATA)
    return x, y


def epoch(model, opt, x, y, batch, max_steps=None):
    perm = torch.randperm(x.shape[0])
    steps = x.shape[0] // batch
    if max_steps is not None:
        steps = min(steps, max_steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    total = 0.0
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[i * batch:(i + 1) * batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item()
    return steps, time.perf_counter() - t0, total / max(steps, 1)


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x, y = load()
    print("torch %s, %d threads" % (torch.__version__, torch.get_num_threads()))
    for batch in (64, 256):
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                    torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        epoch(model, opt, x, y, batch, max_steps=10)  # warm-up
        steps, secs, loss = epoch(model, opt, x, y, batch)
        print("torch cpu batch %d: %.0f images/s (%d steps in %.2f s, loss %.4f)"
              % (batch, steps * batch / secs, steps, secs, loss))


if __name__ == "__main__":
    main()
