#!/usr/bin/env python3
"""Resuming `kiln train` after SIGKILL: test_resume.py KILN_EXE OUT_DIR BACKEND

On BACKEND (cpu, opencl or vulkan) a LeNet run (2 epochs of 64 steps, random crops and
flips) is trained uninterrupted, then
  - killed with SIGKILL in epoch 2 and resumed with `kiln train --resume DIR`: its final
    weights, batch norm statistics and optimizer state are bit-identical to the
    uninterrupted run's, and so is its --log file (every loss, learning rate and
    accuracy; only the times differ);
  - killed while it writes a checkpoint (a temporary file is left behind): the last
    complete checkpoint is intact, the next start removes the temporary file, and the
    resumed run again ends bit-identical;
  - on opencl and vulkan, a checkpoint the CPU backend wrote in epoch 2 is resumed there
    and ends within tolerance of the CPU run (loss and accuracy).
Exits 77 without Fashion-MNIST or without a device of BACKEND.
"""
import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"
STEPS_PER_EPOCH = 64
ARGS = ["train", "lenet", "--epochs", "2", "--train-limit", "2048", "--test-limit", "300",
        "--batch", "32", "--augment", "--seed", "3", "--quiet"]


def env_for(backend):
    e = dict(os.environ)
    e["KILN_BACKEND"] = backend
    return e


def read_st(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    data = b[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items()}, meta


def same_tensors(a, b, what):
    ta, _ = read_st(a)
    tb, _ = read_st(b)
    if sorted(ta) != sorted(tb):
        sys.exit("%s: the checkpoints hold different tensors" % what)
    diff = [k for k in ta if ta[k] != tb[k]]
    if diff:
        sys.exit("%s: %d tensors differ from the uninterrupted run's, e.g. %s" %
                 (what, len(diff), diff[:3]))
    print("%s: %d tensors bit-identical to the uninterrupted run" % (what, len(ta)))


def log_values(path):
    """The computed columns of a --log file (times and throughput dropped)."""
    rows = list(csv.DictReader(open(path)))
    return [(r["kind"], r["epoch"], r["step"], r["loss"], r["lr"], r["val_accuracy"],
             r["test_accuracy"]) for r in rows]


def train(kiln, out, backend, extra=(), timeout=900):
    os.makedirs(out, exist_ok=True)
    args = [kiln] + ARGS + ["--out", out, "--log", os.path.join(out, "run.csv")] + list(extra)
    p = subprocess.run(args, env=env_for(backend), capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        sys.exit("%s failed:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


def last_step(log):
    try:
        rows = list(csv.DictReader(open(log)))
        return max(int(r["step"]) for r in rows) if rows else 0
    except (OSError, ValueError, KeyError):
        return 0


def start_and_kill(kiln, out, backend, extra, until):
    """Starts a run into out and SIGKILLs it as soon as until(out) holds. Returns False
    when the run ended before that."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    args = [kiln] + ARGS + ["--out", out, "--log", os.path.join(out, "run.csv")] + list(extra)
    p = subprocess.Popen(args, env=env_for(backend), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 900
    while p.poll() is None and time.time() < deadline:
        if until(out):
            p.send_signal(signal.SIGKILL)
            p.wait()
            return True
        time.sleep(0.0005)
    p.kill()
    p.wait()
    return False


def temp_files(out):
    return [f for f in os.listdir(out) if ".safetensors.tmp." in f]


def complete(out):
    """The steps of the complete step checkpoints in out."""
    return [int(f[10:18]) for f in os.listdir(out)
            if f.startswith("lenet-step") and f.endswith(".safetensors")]


def resume(kiln, target, backend, extra=()):
    p = subprocess.run([kiln, "train", "--resume", target] + list(extra), env=env_for(backend),
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        sys.exit("resuming %s failed:\n%s%s" % (target, p.stdout, p.stderr))
    return p


def kill_mid_epoch(kiln, out, backend, ref):
    d = os.path.join(out, "killed-" + backend)
    log = os.path.join(d, "run.csv")
    for attempt in range(5):
        if start_and_kill(kiln, d, backend, ["--checkpoint-every", "5"],
                          lambda _: last_step(log) >= STEPS_PER_EPOCH + 8):
            break
    else:
        sys.exit("the run always ended before it could be killed in epoch 2")
    killed_at = last_step(log)
    print("killed at step %d (log); resuming" % killed_at)
    resume(kiln, d, backend)
    same_tensors(os.path.join(d, "lenet.safetensors"), os.path.join(ref, "lenet.safetensors"),
                 "killed in epoch 2, resumed")
    if log_values(log) != log_values(os.path.join(ref, "run.csv")):
        sys.exit("the resumed run's log differs from the uninterrupted run's")
    print("the --log file equals the uninterrupted run's (%d rows)" % len(log_values(log)))


def kill_mid_write(kiln, out, backend, ref):
    d = os.path.join(out, "killed-writing-" + backend)
    for attempt in range(20):
        # killed once a checkpoint of epoch 2 exists, while the next one is written
        if start_and_kill(kiln, d, backend, ["--checkpoint-every", "1", "--keep", "2"],
                          lambda o: len(temp_files(o)) > 0 and complete(o) and
                          max(complete(o)) > STEPS_PER_EPOCH) and temp_files(d):
            break
    else:
        sys.exit("could not kill a run while it wrote a checkpoint (20 attempts)")
    left = temp_files(d)
    ckpts = sorted("lenet-step%08d.safetensors" % k for k in complete(d))
    print("killed while writing (left %s; complete: %s)" % (left, ckpts))
    for c in ckpts:  # every complete checkpoint reads back
        read_st(os.path.join(d, c))
    p = resume(kiln, d, backend)
    if "removed the temporary file of an interrupted write" not in p.stdout:
        sys.exit("the resumed run did not report removing the temporary file:\n" + p.stdout)
    if temp_files(d):
        sys.exit("the temporary file of the killed write is still there: %s" % temp_files(d))
    same_tensors(os.path.join(d, "lenet.safetensors"), os.path.join(ref, "lenet.safetensors"),
                 "killed while writing a checkpoint, resumed")


def cross_backend(kiln, out, backend, cpu_ref):
    """Resumes the CPU run's checkpoint of step 80 (epoch 2) on backend."""
    d = os.path.join(out, "cross-" + backend)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    src = os.path.join(cpu_ref, "lenet-step%08d.safetensors" % 80)
    p = resume(kiln, src, backend, ["--out", d, "--log", os.path.join(d, "run.csv"), "--json"])
    got = json.loads(p.stdout)
    want = [r for r in csv.DictReader(open(os.path.join(cpu_ref, "run.csv")))
            if r["kind"] == "epoch"][-1]
    mine = [r for r in csv.DictReader(open(os.path.join(d, "run.csv"))) if r["kind"] == "epoch"]
    loss_cpu, loss_be = float(want["loss"]), float(mine[-1]["loss"])
    acc_cpu, acc_be = float(want["test_accuracy"]), got["test_accuracy"]
    print("cpu checkpoint of step 80 resumed on %s (%s): final epoch loss %.5f (cpu %.5f), "
          "test accuracy %.4f (cpu %.4f)" % (backend, got["device"], loss_be, loss_cpu, acc_be,
                                             acc_cpu))
    if got["backend"] != backend or got["steps"] != 2 * STEPS_PER_EPOCH:
        sys.exit("the resumed run did not finish on %s" % backend)
    if abs(loss_be - loss_cpu) > 0.02 * loss_cpu or abs(acc_be - acc_cpu) > 0.02:
        sys.exit("outside tolerance (loss 2%, accuracy 0.02)")


def main():
    kiln, out, backend = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        print("SKIP: no Fashion-MNIST")
        return 77
    info = subprocess.run([kiln, "info"], capture_output=True, text=True).stdout
    if "%s: unavailable" % backend in info or ("%s:" % backend) not in info:
        print("SKIP: no %s device" % backend)
        return 77
    os.makedirs(out, exist_ok=True)
    ref = os.path.join(out, "uninterrupted-" + backend)
    shutil.rmtree(ref, ignore_errors=True)
    t0 = time.time()
    train(kiln, ref, backend, ["--checkpoint-every", "5", "--keep", "100"])
    print("uninterrupted run on %s: %.1f s" % (backend, time.time() - t0))
    kill_mid_epoch(kiln, out, backend, ref)
    kill_mid_write(kiln, out, backend, ref)
    if backend != "cpu":
        cpu_ref = os.path.join(out, "uninterrupted-cpu")
        if not os.path.exists(os.path.join(cpu_ref, "lenet-step%08d.safetensors" % 80)):
            shutil.rmtree(cpu_ref, ignore_errors=True)
            train(kiln, cpu_ref, "cpu", ["--checkpoint-every", "5", "--keep", "100"])
        cross_backend(kiln, out, backend, cpu_ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
