#!/usr/bin/env python3
"""Data-parallel `kiln train` under mpirun: test_mpi.py KILN_EXE OUT_DIR CASE HAVE_MPI [TEXT_DATA]

CASE:
  cpu     two CPU ranks with batch 32 each (--batch 64, the global batch) follow the
          loss curve of one process with batch 64 and the same seed for 50 steps within
          the end-to-end tolerance of LeNet (tests/golden/test_e2e.c: rel 1e-3, abs
          1e-4), with random crops and flips (each item augmented as in the single
          run), and reach the same test accuracy (sharded evaluation);
  vulkan  the same with rank 0 on cpu and rank 1 on vulkan (mpirun app contexts);
  opencl  the same with rank 1 on opencl;
  resume  a checkpoint written by a 2-rank run at step 25 (with "parallel" metadata:
          2 ranks, global batch 64) resumes in one process and continues the
          single-process curve to step 50;
  fault   rank 1 killed with SIGKILL mid-run: mpirun exits non-zero within 60 s with a
          message naming rank 1, and the last checkpoint is intact (kiln eval reads
          it); rank 1 stopped with SIGSTOP (a hang): rank 0 exits non-zero within 60 s
          with kiln's message naming rank 1 (--comm-timeout 5);
  text-cpu, text-vulkan, text-opencl, text-resume
          the cpu, vulkan, opencl and resume cases for a small LSTM text classifier
          (textrnn, hidden and embedding 32, texts cut at 64 characters, dropout 0, a
          constant learning rate) on TEXT_DATA (fortunes-zh-5): 50 steps of 2 x 32 texts
          cross an epoch's end (sharded evaluation, a new shuffle), each rank training
          on its half of every global batch padded to the global batch's length;
  attn-cpu
          the cpu case for a small transformer text classifier (textattn, embedding 32,
          feed-forward 64, dropout 0) on TEXT_DATA.
Exits 77 without MPI (HAVE_MPI 0 or no mpirun), without Fashion-MNIST (TEXT_DATA for
the text cases), or without a device of the case's backend. The environment Open MPI
needs to run as root (OMPI_ALLOW_RUN_AS_ROOT...) comes from tests/tools/meson.build.
"""
import csv
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"
STEPS = 50
ARGS = ["train", "lenet", "--max-steps", str(STEPS), "--train-limit", "4096", "--test-limit",
        "500", "--batch", "64", "--augment", "--seed", "5", "--log-every", "1"]
TEXT_ARGS = ["train", "textrnn", "--max-steps", str(STEPS), "--hidden", "32", "--embed", "32",
             "--max-len", "64", "--dropout", "0", "--schedule", "constant", "--batch", "64",
             "--seed", "5", "--log-every", "1"]
ATTN_ARGS = ["train", "textattn", "--max-steps", str(STEPS), "--hidden", "64", "--embed", "32",
             "--max-len", "64", "--dropout", "0", "--schedule", "constant", "--batch", "64",
             "--seed", "5", "--log-every", "1"]
REL, ABS = 1e-3, 1e-4
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]


def env(backend=None):
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    e["OPENBLAS_NUM_THREADS"] = "1"
    e.pop("KILN_DEVICE", None)
    if backend is not None:
        e["KILN_BACKEND"] = backend
    return e


def losses(path):
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["kind"] == "step":
                out[int(row["step"])] = float(row["loss"])
    return out


def accuracy(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "epoch"]
    return float(rows[-1]["test_accuracy"])


def run(cmd, backend="cpu", timeout=900, **kw):
    p = subprocess.run(cmd, env=env(backend), capture_output=True, text=True, timeout=timeout,
                       **kw)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit("FAIL: %s exited %d" % (" ".join(cmd), p.returncode))
    return p.stdout + p.stderr


def single(kiln, out, args=None):
    """The reference: one process, batch 64 (run anew, never a stale file of an older kiln)."""
    args = ARGS if args is None else args
    log = os.path.join(out, "single-%s.csv" % args[1])
    if os.path.exists(log):
        os.remove(log)
    run([kiln] + args + ["--log", log, "--quiet"])
    return log


def mpi_pair(kiln, backend1, extra, args=None):
    """mpirun with rank 0 on cpu and rank 1 on backend1 (app contexts)."""
    args = ARGS if args is None else args
    return MPIRUN + ["-np", "1", "-x", "KILN_BACKEND=cpu", kiln] + args + extra + \
        [":", "-np", "1", "-x", "KILN_BACKEND=" + backend1, kiln] + args + extra


def compare(ref, got, first=1, last=STEPS):
    a, b = losses(ref), losses(got)
    worst = 0.0
    for step in range(first, last + 1):
        if step not in a or step not in b:
            raise SystemExit("FAIL: step %d missing (reference %s, mpi %s)" %
                             (step, step in a, step in b))
        err = abs(a[step] - b[step])
        bound = ABS + REL * abs(a[step])
        worst = max(worst, err / bound)
        if err > bound:
            raise SystemExit("FAIL: step %d: loss %.6g, one process %.6g (bound %.3g)" %
                             (step, b[step], a[step], bound))
    print("steps %d..%d follow the one-process curve; worst at %.3g of the tolerance" %
          (first, last, worst))


def case_curve(kiln, out, backend1, args=None):
    args = ARGS if args is None else args
    ref = single(kiln, out, args)
    log = os.path.join(out, "mpi-%s-%s.csv" % (args[1], backend1))
    text = run(mpi_pair(kiln, backend1, ["--log", log], args), timeout=1500)
    print(text[-1500:])
    for want in ("rank 1 (pid", "backend: " + backend1, "global batch 64 = 2 x 32",
                 "communication:"):
        if want not in text:
            raise SystemExit("FAIL: %r not in the output" % want)
    compare(ref, log)
    if abs(accuracy(ref) - accuracy(log)) > 0.01:
        raise SystemExit("FAIL: test accuracy %.4f, one process %.4f" %
                         (accuracy(log), accuracy(ref)))


def case_resume(kiln, out, args=None):
    args = ARGS if args is None else args
    ref = single(kiln, out, args)
    ck = os.path.join(out, "ck-" + args[1])
    shutil.rmtree(ck, ignore_errors=True)
    os.makedirs(ck)
    log = os.path.join(ck, "run.csv")
    run(MPIRUN + ["-np", "2", kiln] + args[:2] + ["--max-steps", "25"] + args[4:] +
        ["--out", ck, "--checkpoint-every", "25", "--log", log, "--quiet"])
    path = os.path.join(ck, args[1] + ".safetensors")
    with open(path, "rb") as f:
        head = f.read(200000).decode("latin-1")
    for want in ('\\"ranks\\": 2', '\\"global_batch\\": 64', '\\"batch_per_rank\\": 32'):
        if want not in head:
            raise SystemExit("FAIL: %s not in the checkpoint's metadata" % want)
    run([kiln, "train", "--resume", path, "--max-steps", str(STEPS), "--log", log, "--quiet"])
    compare(ref, log, 1, STEPS)


def wait_for(proc, text_file, pattern, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        with open(text_file) as f:
            t = f.read()
        if pattern(t):
            return t
        if proc.poll() is not None:
            raise SystemExit("FAIL: mpirun ended early:\n" + t)
        time.sleep(0.2)
    raise SystemExit("FAIL: timed out waiting for the run")


def rank_pid(text, r):
    for line in text.splitlines():
        if line.startswith("rank %d (pid " % r):
            return int(line.split("(pid ")[1].split()[0])
    raise SystemExit("FAIL: no pid of rank %d in:\n%s" % (r, text))


def start(kiln, out, name, extra):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    log = os.path.join(d, "out.txt")
    f = open(log, "w")
    args = ["train", "lenet", "--epochs", "50", "--train-limit", "4096", "--test-limit", "100",
            "--batch", "64", "--seed", "5", "--out", d, "--checkpoint-every", "10",
            "--log", os.path.join(d, "run.csv"), "--log-every", "1"] + extra
    p = subprocess.Popen(MPIRUN + ["-np", "2", kiln] + args, env=env("cpu"), stdout=f,
                         stderr=subprocess.STDOUT, start_new_session=True)
    return d, log, p


def steps_logged(d):
    try:
        return len(losses(os.path.join(d, "run.csv")))
    except (OSError, KeyError):
        return 0


def stop_all(p, pid):
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    p.wait()


def case_fault(kiln, out):
    # A rank killed: the launcher or kiln ends the other one.
    d, log, p = start(kiln, out, "kill", [])
    text = wait_for(p, log, lambda t: "rank 1 (pid" in t and steps_logged(d) >= 25, 300)
    pid = rank_pid(text, 1)
    os.kill(pid, signal.SIGKILL)
    t0 = time.time()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_all(p, pid)
        raise SystemExit("FAIL: the run went on for 60 s after rank 1 was killed")
    took = time.time() - t0
    with open(log) as f:
        text = f.read()
    print(text[-800:])
    if rc == 0 or "rank 1" not in text.split("test accuracy")[-1]:
        raise SystemExit("FAIL: exit status %d; no message naming rank 1" % rc)
    print("killed rank 1: mpirun exited %d after %.1f s" % (rc, took))
    cks = sorted(glob.glob(os.path.join(d, "lenet-step*.safetensors")))
    if not cks:
        raise SystemExit("FAIL: no checkpoint was written before the kill")
    run([kiln, "eval", cks[-1], "--limit", "100"])
    print("the last checkpoint %s is intact" % os.path.basename(cks[-1]))

    # A rank that hangs: kiln's timeout names it.
    d, log, p = start(kiln, out, "hang", ["--comm-timeout", "5"])
    text = wait_for(p, log, lambda t: "rank 1 (pid" in t and steps_logged(d) >= 25, 300)
    pid = rank_pid(text, 1)
    os.kill(pid, signal.SIGSTOP)
    t0 = time.time()
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_all(p, pid)
        raise SystemExit("FAIL: the run went on for 60 s after rank 1 stopped")
    took = time.time() - t0
    stop_all(p, pid)
    with open(log) as f:
        text = f.read()
    print(text[-1200:])
    want = "rank 1 (pid %d" % pid
    if rc == 0 or want not in text or "did not respond" not in text:
        raise SystemExit("FAIL: exit status %d; no message naming %s" % (rc, want))
    print("stopped rank 1: the run ended with status %d after %.1f s" % (rc, took))


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__)
        return 2
    kiln, out, case, have_mpi = sys.argv[1:5]
    text_data = sys.argv[5] if len(sys.argv) == 6 else None
    if have_mpi != "1" or shutil.which("mpirun") is None:
        print("SKIP: kiln was built without MPI, or mpirun is missing")
        return 77
    if case.startswith("text-") or case.startswith("attn-"):
        if text_data is None or not os.path.isfile(os.path.join(text_data, "train.tsv")):
            print("SKIP: no text data set (fortunes-zh-5) in %s" % text_data)
            return 77
        kind, case = case.split("-", 1)
        text_args = (TEXT_ARGS if kind == "text" else ATTN_ARGS) + ["--data", text_data]
    elif not os.path.isdir(DATA):
        print("SKIP: no Fashion-MNIST in " + DATA)
        return 77
    else:
        text_args = None
    if case in ("vulkan", "opencl"):
        info = subprocess.run([kiln, "info"], capture_output=True, text=True).stdout
        if "%s: unavailable" % case in info or ("%s:" % case) not in info:
            print("SKIP: no %s device" % case)
            return 77
    os.makedirs(out, exist_ok=True)
    if case in ("cpu", "vulkan", "opencl"):
        case_curve(kiln, out, case, text_args)
    elif case == "resume":
        case_resume(kiln, out, text_args)
    elif case == "fault" and text_args is None:
        case_fault(kiln, out)
    else:
        print("unknown case " + case)
        return 2
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
