#!/usr/bin/env python3
"""Runs 20 steps of `kiln train treenn` (640 training and 100 test trees) on the cpu
backend and, when a backend is named, on it under KILN_CHECK=1 (every node rerun on the
CPU reference; a mismatch stops the run): both must finish, and the backend's mean loss
and test accuracy must match the cpu's. Usage: check_treenn.py KILN [BACKEND]."""
import json
import os
import subprocess
import sys

kiln = sys.argv[1]
args = [kiln, "train", "treenn", "--max-steps", "20", "--trees", "640", "--test-trees", "100",
        "--json"]


def run(backend, check):
    env = dict(os.environ, KILN_BACKEND=backend)
    if check:
        env["KILN_CHECK"] = "1"
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if p.returncode != 0:
        sys.exit(f"{backend}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print(backend, r)
    if r["steps"] != 20 or r["backend"] != backend:
        sys.exit(f"{backend}: {r}")
    return r


ref = run("cpu", False)
if len(sys.argv) > 2:
    got = run(sys.argv[2], True)
    if abs(got["loss"] - ref["loss"]) > 1e-4 * max(1.0, abs(ref["loss"])) or \
            abs(got["test_accuracy"] - ref["test_accuracy"]) > 0.011:
        sys.exit(f"{sys.argv[2]} differs from cpu: {got} vs {ref}")
print("ok")
