#!/usr/bin/python3
"""Times training steps of PyTorch's nn.LSTM(256, 256) (or nn.GRU) on the CPU, as
bench/bench_lstm.c does in kiln: a batch of 64 sequences of 64 steps (time first),
MSE against a fixed target at every step, backward and an SGD update (lr 0.01), the
loss read with .item() every step. Usage: torch_lstm.py [STEPS [CELL [HIDDEN [BATCH
[T]]]]]. Threads: torch.set_num_threads(KILN_BENCH_THREADS, default 2). Prints one
line in bench_lstm's format."""
import os
import resource
import sys
import time

import torch


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    a = sys.argv[1:]
    steps = int(a[0]) if len(a) > 0 else 10
    cell = a[1] if len(a) > 1 else "lstm"
    h = int(a[2]) if len(a) > 2 else 256
    n = int(a[3]) if len(a) > 3 else 64
    t = int(a[4]) if len(a) > 4 else 64
    torch.set_num_threads(int(os.environ.get("KILN_BENCH_THREADS", "2")))
    torch.manual_seed(0)
    mod = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(h, h)
    opt = torch.optim.SGD(mod.parameters(), lr=0.01)
    x = torch.rand(t, n, h) - 0.5
    target = torch.rand(t, n, h) - 0.5
    loss_fn = torch.nn.MSELoss()
    w0 = c0 = 0.0
    for i in range(-3, steps):
        if i == 0:
            w0, c0 = time.perf_counter(), cpu()
        opt.zero_grad()
        y, _ = mod(x)
        loss = loss_fn(y, target)
        loss.backward()
        opt.step()
        val = loss.item()
    ws, cs = (time.perf_counter() - w0) / steps, (cpu() - c0) / steps
    print("torch cpu %s: %.1f ms/step wall, %.1f ms/step cpu (H %d, batch %d, T %d, %d steps, "
          "loss %.6f, torch %s, %d threads)" % (cell, ws * 1e3, cs * 1e3, h, n, t, steps, val,
                                                 torch.__version__, torch.get_num_threads()))


if __name__ == "__main__":
    main()
