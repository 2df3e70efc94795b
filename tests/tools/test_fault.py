#!/usr/bin/env python3
"""Device faults in `kiln train --out`: test_fault.py KILN_EXE OUT_DIR BACKEND

A small MLP run (2 epochs of 16 steps, a checkpoint every 4 steps) is trained without a
fault, then with the faults of the test hooks (src/env.c):
  - KILN_MAX_DEVICE_MEMORY far below what the model needs, and KILN_TEST_FAULT=oom:1
    (the first device buffer fails): the run exits non-zero with
    KILN_E_OUT_OF_DEVICE_MEMORY naming the limit or the hook, and writes nothing;
  - on opencl and vulkan, the device lost at the Nth submission (KILN_TEST_FAULT=lost:N,
    N = 4, 8, 16, ... until a run completes): each run that meets the fault exits
    non-zero with KILN_E_DEVICE_LOST naming the driver's error, leaves no temporary file
    and no final checkpoint, and every step checkpoint it wrote before the fault holds
    the same tensors as the fault-free run's; at least one such run had written a
    checkpoint before the fault.
Malformed values of both variables are refused before any work (exit 2).
Exits 77 without Fashion-MNIST or without a device of BACKEND.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

DATA = "/usr/share/datasets/fashion-mnist"
ARGS = ["train", "mlp", "--train-limit", "512", "--test-limit", "200", "--batch", "32",
        "--epochs", "2", "--checkpoint-every", "4", "--keep", "20", "--seed", "1", "--quiet"]


def tensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    data = b[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items()}


def train(kiln, out, backend, fault=None):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ)
    env["KILN_BACKEND"] = backend
    env.pop("KILN_TEST_FAULT", None)
    env.pop("KILN_MAX_DEVICE_MEMORY", None)
    env.update(fault or {})
    return subprocess.run([kiln] + ARGS + ["--out", out], env=env, capture_output=True,
                          text=True, timeout=600)


def refused(kiln, out, backend, fault, words):
    p = train(kiln, out, backend, fault)
    what = " ".join("%s=%s" % kv for kv in fault.items())
    if p.returncode == 0:
        sys.exit("%s: the run succeeded" % what)
    for w in words:
        if w not in p.stderr:
            sys.exit("%s: the error does not say '%s':\n%s" % (what, w, p.stderr))
    if os.listdir(out):
        sys.exit("%s: files were written: %s" % (what, os.listdir(out)))
    print("%s: refused, nothing written: %s" % (what, p.stderr.strip().splitlines()[0]))


def main():
    kiln, out, backend = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        print("SKIP: no Fashion-MNIST")
        return 77
    info = subprocess.run([kiln, "info"], capture_output=True, text=True).stdout
    if "%s: unavailable" % backend in info or ("%s:" % backend) not in info:
        print("SKIP: no %s device" % backend)
        return 77
    out = os.path.join(out, backend)
    for var, val in (("KILN_MAX_DEVICE_MEMORY", "12X"), ("KILN_MAX_DEVICE_MEMORY", "0"),
                     ("KILN_TEST_FAULT", "lost:0"), ("KILN_TEST_FAULT", "oom:1,oom:2"),
                     ("KILN_TEST_FAULT", "oom:99999999999999999999")):
        p = train(kiln, os.path.join(out, "malformed"), backend, {var: val})
        if p.returncode != 2 or "%s=%s: accepted values" % (var, val) not in p.stderr:
            sys.exit("%s=%s was not refused before any work:\n%s" % (var, val, p.stderr))
    print("malformed KILN_MAX_DEVICE_MEMORY and KILN_TEST_FAULT values refused")
    ref = os.path.join(out, "ref")
    p = train(kiln, ref, backend)
    if p.returncode != 0:
        sys.exit("the fault-free run failed:\n%s%s" % (p.stdout, p.stderr))
    want = {f: tensors(os.path.join(ref, f)) for f in os.listdir(ref)}
    faulted = os.path.join(out, "faulted")

    refused(kiln, faulted, backend, {"KILN_MAX_DEVICE_MEMORY": "64K"},
            ["KILN_E_OUT_OF_DEVICE_MEMORY", "KILN_MAX_DEVICE_MEMORY=65536"])
    refused(kiln, faulted, backend, {"KILN_TEST_FAULT": "oom:1"},
            ["KILN_E_OUT_OF_DEVICE_MEMORY", "KILN_TEST_FAULT"])
    if backend == "cpu":  # no submissions to lose
        return 0

    native = "VK_ERROR_DEVICE_LOST" if backend == "vulkan" else "CL_OUT_OF_RESOURCES"
    kept_before_fault = 0
    n = 4
    while True:
        p = train(kiln, faulted, backend, {"KILN_TEST_FAULT": "lost:%d" % n})
        files = sorted(os.listdir(faulted))
        if p.returncode == 0:
            print("lost:%d: after the last submission; the run completed" % n)
            break
        for w in ("KILN_E_DEVICE_LOST", native):
            if w not in p.stderr:
                sys.exit("lost:%d: the error does not say '%s':\n%s" % (n, w, p.stderr))
        if any(".tmp." in f for f in files) or "mlp.safetensors" in files:
            sys.exit("lost:%d: a temporary file or a final checkpoint was written: %s" %
                     (n, files))
        for f in files:
            if f not in want or tensors(os.path.join(faulted, f)) != want[f]:
                sys.exit("lost:%d: %s differs from the fault-free run's" % (n, f))
        print("lost:%d: %s; intact: %s" % (n, p.stderr.strip().splitlines()[0][:90],
                                           ", ".join(files) or "none"))
        kept_before_fault = max(kept_before_fault, len(files))
        n *= 2
        if n > 1 << 16:
            sys.exit("the run never completed with a late fault")
    if kept_before_fault == 0:
        sys.exit("no fault came after a checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
