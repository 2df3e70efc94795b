#!/usr/bin/env python3
"""Tests of the text commands of the kiln program: `kiln train textcnn|textrnn` trains a
few steps on fortunes-zh-5 and writes its checkpoint with the configuration, vocabulary
and label names; `kiln train charlm` trains a few steps on a small text and `kiln
sample` generates from its checkpoint, the same text for the same seed and another for
another seed; bad options fail before any work.

Usage: text_cli.py KILN_EXE FORTUNES_DIR WORK_DIR (FORTUNES_DIR may be '' when
fortunes-zh is not installed: the classifier cases then skip)."""
import json
import os
import subprocess
import sys
import tempfile


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def main(exe, fortunes, work):
    bad = []

    def expect(cond, what, res=None):
        if not cond:
            bad.append(what)
            print("FAIL", what)
            if res is not None:
                print(res.stdout[-2000:], res.stderr[-2000:])
        else:
            print("ok  ", what)

    env = dict(os.environ, KILN_BACKEND="cpu")
    with tempfile.TemporaryDirectory(dir=work) as d:
        if fortunes:
            for model, extra in (("textcnn", ["--widths", "2,3"]),
                                 ("textrnn", ["--rnn", "gru", "--bidirectional"])):
                r = run([exe, "train", model, "--data", fortunes, "--max-steps", "3",
                         "--epochs", "1", "--hidden", "16", "--embed", "16", "--out", d] + extra,
                        env=env)
                expect(r.returncode == 0 and "test accuracy:" in r.stdout,
                       f"kiln train {model} runs", r)
                st, js = os.path.join(d, model + ".safetensors"), os.path.join(d, model + ".json")
                expect(os.path.exists(st) and os.path.exists(js), f"{model} checkpoint written")
                if os.path.exists(js):
                    with open(js, encoding="utf-8") as f:
                        desc = json.load(f)
                    expect(desc["config"]["model"] == model and
                           desc["vocab"]["labels"] == sorted(desc["vocab"]["labels"]) and
                           len(desc["vocab"]["labels"]) == 5 and len(desc["vocab"]["chars"]) > 3000,
                           f"{model} configuration, vocabulary and the 5 label names saved")
        else:
            print("skip the classifiers: fortunes-zh-5 is not built")
        text = os.path.join(d, "text.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("the quick brown fox jumps over the lazy dog. " * 200)
        r = run([exe, "train", "charlm", "--data", text, "--max-steps", "5", "--epochs", "1",
                 "--hidden", "16", "--batch", "4", "--bptt", "16", "--out", d], env=env)
        expect(r.returncode == 0 and "held-out" in r.stdout, "kiln train charlm runs", r)
        ck = os.path.join(d, "charlm.safetensors")
        outs = []
        for seed in ("1", "1", "2"):
            r = run([exe, "sample", ck, "--prompt", "the ", "--length", "40", "--seed", seed],
                    env=env)
            expect(r.returncode == 0 and r.stdout.startswith("the ") and
                   len(r.stdout.rstrip("\n")) == 44, f"kiln sample --seed {seed}", r)
            outs.append(r.stdout)
        expect(outs[0] == outs[1] and outs[0] != outs[2],
               "samples: the same for one seed, another for another")
        for args in (["train", "textrnn", "--rnn", "elman"], ["train", "textcnn", "--widths", "0"],
                     ["train", "charlm", "--dropout", "1"], ["sample"],
                     ["sample", os.path.join(d, "missing.safetensors")],
                     ["sample", ck, "--temperature", "0"]):
            r = run([exe] + args, env=env)
            expect(r.returncode != 0 and r.stderr != "", "fails: kiln " + " ".join(args[:3]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
