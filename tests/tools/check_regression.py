#!/usr/bin/env python3
"""Runs examples/regression_csv on scikit-learn's diabetes data (tools/data/get_diabetes.sh)
and checks it: a linear layer trained by full-batch AdamW reaches the least-squares test
MSE within 2% (gradient descent finds the least-squares solution), and the MLP, stopped
on a validation split of the training rows, explains at least 40% of the test variance.
Usage: check_regression.py EXAMPLE [CSV]; exits 77 when the data is absent."""
import os
import re
import subprocess
import sys

exe = sys.argv[1]
default = os.path.join(os.environ.get("KILN_DATA_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln", "data"),
    "diabetes", "diabetes.csv")
csv = sys.argv[2] if len(sys.argv) > 2 else default
if not os.path.exists(csv):
    print("SKIP: no %s (tools/data/get_diabetes.sh fetches it)" % csv)
    sys.exit(77)


def run(*extra):
    p = subprocess.run([exe, csv] + list(extra), capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit("regression_csv failed:\n" + p.stdout + p.stderr)
    print(p.stdout, end="")
    m = re.search(r"test MSE ([0-9.]+), R\^2 (-?[0-9.]+) \(.*\); linear least squares: MSE "
                  r"([0-9.]+), R\^2 ([0-9.]+)", p.stdout)
    if m is None:
        sys.exit("no result line")
    return [float(v) for v in m.groups()]


mse, r2, base_mse, base_r2 = run("--hidden", "0")
if abs(base_mse - 2004.52) > 0.01:
    sys.exit("least squares on the last-20 split: MSE %.2f, published 2004.52" % base_mse)
if abs(mse - base_mse) > 0.02 * base_mse:
    sys.exit("the trained linear model's MSE %.2f is not within 2%% of least squares' %.2f"
             % (mse, base_mse))
mse, r2, _, _ = run()
if not r2 > 0.4:
    sys.exit("the MLP's test R^2 %.4f is below 0.4" % r2)
