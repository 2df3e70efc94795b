#!/usr/bin/env python3
"""Runs `kiln train gan --stats` for a few steps and checks that a training step moves
only the real batch and the noise to the device and the two losses back: the generated
images and the discriminator's weights stay on the device (the parameter store is
shared by both graphs). Usage: check_gan_stats.py KILN_EXE OUT_DIR [BACKEND]; exits 77
when the backend has no device."""
import os
import re
import subprocess
import sys

exe, out = sys.argv[1], sys.argv[2]
env = dict(os.environ)
if len(sys.argv) > 3:
    env["KILN_BACKEND"] = sys.argv[3]
batch, nz = 8, 64
cmd = [exe, "train", "gan", "--max-steps", "3", "--batch", str(batch), "--train-limit", "64",
       "--stats", "--out", out]
p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
if p.returncode != 0:
    if "unavailable" in p.stderr or "no device" in p.stderr:
        print("SKIP:", p.stderr.strip())
        sys.exit(77)
    sys.exit("kiln failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
m = re.search(r"stats per training step \(3 steps\):.* ([0-9]+) bytes up, ([0-9]+) bytes down",
              p.stdout)
if m is None:
    sys.exit("no stats line in:\n" + p.stdout)
up, down = int(m.group(1)), int(m.group(2))
want_up = batch * 28 * 28 * 4 + batch * nz * 4
print("per step: %d bytes up (batch + noise = %d), %d bytes down (two losses = 8)"
      % (up, want_up, down))
if up != want_up or down != 8:
    sys.exit("host<->device traffic per step is not the batch, the noise and the losses")
