#!/usr/bin/env python3
"""Runs examples/tree_net briefly (4 epochs on 2000 training and 500 test trees, the
backend of KILN_BACKEND) and checks it: the tree net reaches a test accuracy of at least
0.95 while the bag-of-symbols baseline on the same split stays below 0.7 (XOR hides a
tree's value from its symbol counts). Usage: check_tree_net.py EXAMPLE."""
import re
import subprocess
import sys

p = subprocess.run([sys.argv[1], "4", "2000", "500"], capture_output=True, text=True,
                   timeout=600)
print(p.stdout, end="")
if p.returncode != 0:
    sys.exit("tree_net failed:\n" + p.stderr)
m = re.search(r"tree net test accuracy ([0-9.]+); bag-of-symbols baseline ([0-9.]+)", p.stdout)
if m is None:
    sys.exit("no result line")
net, base = float(m.group(1)), float(m.group(2))
if net < 0.95 or base >= 0.7:
    sys.exit(f"tree net {net} (want >= 0.95), baseline {base} (want < 0.7)")
print("ok")
