#!/usr/bin/env python3
"""The step-time model of data-parallel training in docs/scaling.md.

Usage: bench/scaling_model.py [--alpha-us A] [--gpu-tflops T] [--cell-us C]

A step on N GPUs is the compute of one GPU's share of the batch plus a ring
all-reduce of the gradients, which is not overlapped with the backward pass (kiln
starts its buckets after backward; docs/scaling.md):

    t_allreduce(N) = 2 (N - 1) / N * G / BW  +  2 (N - 1) * alpha
    t_step(N)      = t_compute(b) + t_allreduce(N)

G: gradient bytes (float32, from kiln's parameter counts), BW: link bandwidth (25 and
100 Gbit/s), alpha: the latency of one ring step (default 10 us, a tuned RDMA or good
TCP path; each ring step sends a message to the next GPU and waits for one). The GPU's
compute: 3 times the forward FLOPs per image (forward, data and weight gradients) at
an effective rate T TFLOP/s (default 5: a mid-range GPU at 30-50 % of its peak on
these small layers), plus a fixed 0.2 ms per step of launch and submission overhead.
The LSTM classifier also pays for its recurrence: a batch of padded length T runs T
dependent cell steps forward and T backward, each at least one launch (--cell-us,
default 10 us), whatever the batch.

Weak scaling (per-GPU batch b fixed, the global batch grows with N): speed-up
S = N t_step(1) / t_step(N). Strong scaling (global batch 512 fixed, b = 512 / N):
S = t_step(1, 512) / t_step(N, 512 / N).
"""
import argparse

# The LSTM classifier as `kiln train textrnn` builds it by default on fortunes-zh-5:
# embedding 128 of 11,766 ids (3,428 characters and 8,338 bigrams), LSTM 128, dense 5
# (1,638,789 parameters). A character costs
# 2 * 4H (E + H) FLOPs of gate products (plus about 10 H of gate arithmetic), and the
# bucketed batches of 64 texts (cut at 128 characters, padded to a multiple of 16) have a
# mean padded length of 44 characters (the texts 31.7).
LSTM_T = 44
LSTM_MFLOPS = (2 * 4 * 128 * (128 + 128) + 10 * 128) * LSTM_T / 1e6

# name: (parameters, forward MFLOPs per image or text, dependent cell steps per step) as
# kiln reports them (README tables)
MODELS = {
    "MLP 784-256-128-10": (235146, 0.47, 0),
    "LeNet-5": (61706, 0.85, 0),
    "ResNet-20": (272186, 62.41, 0),
    "LSTM classifier": (1638789, LSTM_MFLOPS, 2 * LSTM_T),
}
LINKS_GBIT = (25, 100)
GPUS = (1, 2, 8, 64)
OVERHEAD_S = 0.2e-3


def allreduce_s(n, grad_bytes, gbit, alpha):
    if n == 1:
        return 0.0
    bw = gbit * 1e9 / 8
    return 2 * (n - 1) / n * grad_bytes / bw + 2 * (n - 1) * alpha


def compute_s(mflops, batch, tflops, cells=0, cell_s=0.0):
    return 3 * mflops * 1e6 * batch / (tflops * 1e12) + OVERHEAD_S + cells * cell_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alpha-us", type=float, default=10.0)
    ap.add_argument("--gpu-tflops", type=float, default=5.0)
    ap.add_argument("--cell-us", type=float, default=10.0,
                    help="time of one dependent recurrent cell step (launch-bound)")
    ap.add_argument("--batch", type=int, default=64, help="per-GPU batch of weak scaling")
    ap.add_argument("--global-batch", type=int, default=512, help="of strong scaling")
    args = ap.parse_args()
    alpha, cell = args.alpha_us * 1e-6, args.cell_us * 1e-6
    print("alpha %.0f us per ring step, GPU %.1f TFLOP/s effective + %.1f ms per step "
          "(+ %.0f us per recurrent cell step), per-GPU batch %d (weak), global batch %d "
          "(strong)\n" % (args.alpha_us, args.gpu_tflops, OVERHEAD_S * 1e3, args.cell_us,
                          args.batch, args.global_batch))
    print("| model | gradient | link | N | all-reduce ms | weak: step ms | weak: speed-up "
          "(efficiency) | strong: step ms | strong: speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (params, mflops, cells) in MODELS.items():
        g = params * 4
        for gbit in LINKS_GBIT:
            t1 = compute_s(mflops, args.batch, args.gpu_tflops, cells, cell)
            s1 = compute_s(mflops, args.global_batch, args.gpu_tflops, cells, cell)
            for n in GPUS:
                ar = allreduce_s(n, g, gbit, alpha)
                weak = t1 + ar
                b = max(1, args.global_batch // n)
                strong = compute_s(mflops, b, args.gpu_tflops, cells, cell) + ar
                print("| %s | %.2f MB | %d Gbit/s | %d | %.3f | %.3f | %.1fx (%.0f %%) | %.3f | "
                      "%.1fx |" % (name, g / 1e6, gbit, n, ar * 1e3, weak * 1e3, n * t1 / weak,
                                   100 * t1 / weak, strong * 1e3, s1 / strong))


if __name__ == "__main__":
    main()
