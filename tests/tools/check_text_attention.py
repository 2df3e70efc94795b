#!/usr/bin/env python3
"""Runs examples/text_attention for one epoch on fortunes-zh-5 (the backend of
KILN_BACKEND) and checks that the transformer learned something: test accuracy above
0.5 on five balanced classes (chance 0.2). Usage: check_text_attention.py EXAMPLE DIR;
exits 77 when DIR has no train.tsv."""
import os
import re
import subprocess
import sys

exe, data = sys.argv[1], sys.argv[2]
if not os.path.exists(os.path.join(data, "train.tsv")):
    print(f"SKIP: no {data}/train.tsv")
    sys.exit(77)
p = subprocess.run([exe, data, "1"], capture_output=True, text=True, timeout=600)
print(p.stdout, end="")
if p.returncode != 0:
    sys.exit("text_attention failed:\n" + p.stderr)
m = re.search(r"epoch 1: loss ([0-9.]+), test accuracy ([0-9.]+)", p.stdout)
if m is None:
    sys.exit("no epoch line")
if float(m.group(2)) <= 0.5:
    sys.exit(f"test accuracy {m.group(2)} after an epoch (want > 0.5)")
print("ok")
