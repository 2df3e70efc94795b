#!/usr/bin/env python3
"""Tests of the text models of the kiln program: `kiln train textcnn|textrnn|textattn`
trains a few steps on fortunes-zh-5 and writes checkpoints whose metadata holds the
configuration, the vocabulary and the label names; a run resumed from a step checkpoint
ends with the weights of the uninterrupted run; `kiln eval` and `kiln predict` take the
text checkpoint (a split of the data set, lines of a file); `kiln train charlm` trains a
few steps on a small text, resumes exactly at an epoch end, and `kiln sample` generates
from its checkpoint, the same text for the same seed and another for another seed; bad
options fail before any work.

Usage: text_cli.py KILN_EXE FORTUNES_DIR WORK_DIR (FORTUNES_DIR may be '' when
fortunes-zh is not installed: the classifier cases then skip)."""
import json
import os
import struct
import subprocess
import sys
import tempfile


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def header(path):
    """The JSON header of a safetensors file: its metadata and its tensors' bytes."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    return meta, {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
                  for k, v in h.items()}


class Checks:
    def __init__(self):
        self.bad = []

    def __call__(self, cond, what, res=None):
        if not cond:
            self.bad.append(what)
            print("FAIL", what)
            if res is not None:
                print(res.stdout[-2000:], res.stderr[-2000:])
        else:
            print("ok  ", what)


def classifiers(exe, fortunes, d, env, expect):
    small = ["--data", fortunes, "--hidden", "16", "--embed", "16", "--train-limit", "256"]
    for model, extra in (("textcnn", ["--widths", "2,3", "--bigrams"]),
                         ("textrnn", ["--rnn", "gru", "--bidirectional", "--pool", "attn"]),
                         ("textattn", ["--heads", "2", "--layers", "2"])):
        out = os.path.join(d, model)
        os.mkdir(out)
        r = run([exe, "train", model, "--epochs", "2", "--checkpoint-every", "3", "--keep", "9",
                 "--out", out] + small + extra, env=env)
        expect(r.returncode == 0 and "test accuracy:" in r.stdout, f"kiln train {model} runs", r)
        st = os.path.join(out, model + ".safetensors")
        if not os.path.exists(st):
            expect(False, f"{model} checkpoint written")
            continue
        meta, tensors = header(st)
        cfg, vocab = json.loads(meta["config"]), json.loads(meta["vocab"])
        labels = json.loads(meta["labels"])
        expect(meta["model"] == model and cfg["input_kind"] == "text" and cfg["classes"] == 5 and
               labels == sorted(labels) and len(labels) == 5 and vocab["labels"] == labels and
               len(vocab["chars"]) > 500 and cfg["vocab_size"] >= len(vocab["chars"]),
               f"{model} checkpoint: configuration, vocabulary and the 5 label names")
        # resumed from the step-3 checkpoint: the weights of the uninterrupted run
        again = os.path.join(d, model + "-again")
        os.mkdir(again)
        r = run([exe, "train", "--resume", os.path.join(out, model + "-step00000003.safetensors"),
                 "--out", again], env=env)
        ok = r.returncode == 0 and os.path.exists(os.path.join(again, model + ".safetensors"))
        expect(ok and header(os.path.join(again, model + ".safetensors"))[1] == tensors,
               f"{model} resumed at step 3 ends with the uninterrupted run's weights", r)
        r = run([exe, "eval", st, "--limit", "50", "--json"], env=env)
        res = json.loads(r.stdout) if r.returncode == 0 else {}
        expect(res.get("n") == 50 and 0 <= res.get("accuracy", -1) <= 1 and
               len(res.get("classes", [])) == 5, f"kiln eval of {model}", r)
        lines = os.path.join(d, "lines.txt")
        with open(lines, "w", encoding="utf-8") as f:
            f.write("學而時習之\n\nanalects\t有朋自遠方來\n")
        r = run([exe, "predict", st, lines, "--top", "2"], env=env)
        rows = r.stdout.splitlines()
        expect(r.returncode == 0 and len(rows) == 2 and rows[0].startswith(lines + ":1: ") and
               rows[1].startswith(lines + ":3: ") and all(x.count(",") == 1 for x in rows),
               f"kiln predict of {model}: a line each, the 2 most probable classes", r)


def bigram_defaults(exe, fortunes, env, expect):
    """textrnn and textattn embed bigrams unless --no-bigrams; textcnn only with --bigrams."""
    small = ["--data", fortunes, "--hidden", "8", "--embed", "8", "--max-steps", "1",
             "--train-limit", "64"]
    heads = ["--heads", "2"]  # textattn's heads must divide the embedding width
    for model, extra, want in (("textrnn", [], True), ("textrnn", ["--no-bigrams"], False),
                               ("textattn", heads + ["--no-bigrams"], False),
                               ("textattn", heads, True), ("textcnn", [], False)):
        r = run([exe, "train", model] + small + extra, env=env)
        got = r.returncode == 0 and " 0 bigrams" not in r.stdout and "(characters and bigrams)" \
            in r.stdout
        expect(r.returncode == 0 and got == want,
               f"kiln train {model} {' '.join(extra)}: bigrams {'on' if want else 'off'}", r)


def charlm(exe, d, env, expect):
    text = os.path.join(d, "text.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("the quick brown fox jumps over the lazy dog. " * 200)
    small = ["--data", text, "--hidden", "16", "--batch", "4", "--bptt", "16"]
    full, part = os.path.join(d, "lm"), os.path.join(d, "lm-part")
    os.mkdir(full)
    os.mkdir(part)
    r = run([exe, "train", "charlm", "--epochs", "2", "--out", full] + small, env=env)
    expect(r.returncode == 0 and r.stdout.count("held-out") == 3, "kiln train charlm runs", r)
    ck = os.path.join(full, "charlm.safetensors")
    r = run([exe, "train", "charlm", "--epochs", "1", "--out", part, "--quiet"] + small, env=env)
    r2 = run([exe, "train", "--resume", part, "--epochs", "2", "--quiet"], env=env)
    expect(r.returncode == 0 and r2.returncode == 0 and os.path.exists(ck) and
           header(os.path.join(part, "charlm.safetensors"))[1] == header(ck)[1],
           "charlm resumed at an epoch end ends with the uninterrupted run's weights", r2)
    outs = []
    for seed in ("1", "1", "2"):
        r = run([exe, "sample", ck, "--prompt", "the ", "--length", "40", "--seed", seed], env=env)
        expect(r.returncode == 0 and r.stdout.startswith("the ") and
               len(r.stdout.rstrip("\n")) == 44, f"kiln sample --seed {seed}", r)
        outs.append(r.stdout)
    expect(outs[0] == outs[1] and outs[0] != outs[2],
           "samples: the same for one seed, another for another")
    return ck


def main(exe, fortunes, work):
    expect = Checks()
    env = dict(os.environ, KILN_BACKEND="cpu")
    with tempfile.TemporaryDirectory(dir=work) as d:
        if fortunes:
            classifiers(exe, fortunes, d, env, expect)
            bigram_defaults(exe, fortunes, env, expect)
        else:
            print("skip the classifiers: fortunes-zh-5 is not built")
        ck = charlm(exe, d, env, expect)
        for args in (["train", "textrnn", "--rnn", "elman"], ["train", "textcnn", "--widths", "0"],
                     ["train", "textcnn", "--widths", "1,2,3,4,5"],
                     ["train", "charlm", "--dropout", "1"], ["train", "charlm", "--embed", "8"],
                     ["train", "textcnn", "--bptt", "8"], ["train", "textattn", "--heads", "3"],
                     ["train", "textattn", "--bidirectional"], ["sample"],
                     ["sample", os.path.join(d, "missing.safetensors")],
                     ["sample", ck, "--temperature", "0"], ["eval", ck]):
            r = run([exe] + args, env=env)
            expect(r.returncode != 0 and r.stderr != "", "fails: kiln " + " ".join(args[:4]), r)
        r = run([exe, "help", "train", "textrnn"], env=env)
        expect(r.returncode == 0 and "--bidirectional" in r.stdout and "--bptt" not in r.stdout,
               "kiln help train textrnn lists its options", r)
        r = run([exe, "help", "sample"], env=env)
        expect(r.returncode == 0 and "--temperature" in r.stdout, "kiln help sample", r)
    return 1 if expect.bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
