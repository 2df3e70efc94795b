#!/usr/bin/env python3
"""Runs 20 training steps of each text model of the kiln program, small (16-wide,
texts cut at 32 characters, batch 16): textcnn with bigrams, textrnn (LSTM with
attention pooling), textrnn (2-layer bidirectional GRU), textattn on fortunes-zh-5 and charlm on a generated text.
On the cpu backend, and when a backend is named, on it under KILN_CHECK=1 (every node
rerun on the CPU reference; a mismatch stops the run): every run must finish, and the
backend's loss after 20 steps must be the cpu's. Usage: check_text_models.py KILN
FORTUNES_DIR WORK_DIR [BACKEND] (FORTUNES_DIR may be '': the classifiers then skip)."""
import json
import os
import subprocess
import sys
import tempfile

kiln, fortunes, work = sys.argv[1:4]
backend = sys.argv[4] if len(sys.argv) > 4 else None
small = ["--hidden", "16", "--max-steps", "20", "--json"]
text = ["--embed", "16", "--max-len", "32", "--batch", "16"]
models = [("charlm", ["--bptt", "16", "--batch", "8"])]
if fortunes:
    models += [("textcnn", text + ["--widths", "2,3", "--bigrams"]),
               ("textrnn", text + ["--pool", "attn"]),
               ("textrnn", text + ["--rnn", "gru", "--bidirectional", "--layers", "2"]),
               ("textattn", text + ["--heads", "2", "--layers", "2"])]
else:
    print("skip the classifiers: fortunes-zh-5 is not built")


def run(model, args, be, check):
    env = dict(os.environ, KILN_BACKEND=be)
    if check:
        env["KILN_CHECK"] = "1"
    p = subprocess.run([kiln, "train", model] + args, capture_output=True, text=True,
                       timeout=900, env=env)
    if p.returncode != 0:
        sys.exit(f"{model} {' '.join(args)} on {be}: exit {p.returncode}\n{p.stderr[-3000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print(model, be, "KILN_CHECK=1" if check else "", r)
    if r["steps"] != 20 or r["backend"] != be:
        sys.exit(f"{model} on {be}: {r}")
    return r


with tempfile.TemporaryDirectory(dir=work) as d:
    lm_text = os.path.join(d, "text.txt")
    with open(lm_text, "w", encoding="utf-8") as f:
        f.write("the quick brown fox jumps over the lazy dog. " * 200)
    for model, extra in models:
        args = small + (["--data", lm_text] if model == "charlm" else ["--data", fortunes]) + extra
        ref = run(model, args, "cpu", False)
        if backend is not None:
            got = run(model, args, backend, True)
            k = "train_bpc" if model == "charlm" else "train_loss"
            if abs(got[k] - ref[k]) > 1e-3 * max(1.0, abs(ref[k])):
                sys.exit(f"{model} on {backend} differs from cpu: {got} vs {ref}")
print("ok")
