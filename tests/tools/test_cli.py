#!/usr/bin/env python3
"""Tests of the kiln program: test_cli.py GROUP KILN_EXE OUT_DIR [EXAMPLE...]

  help     `kiln help`, every command's and every model's --help (each option listed with
           its default), the examples' --help, and usage errors pointing to the help
  env      malformed KILN_* values are refused before any work, naming the variable and
           its accepted values; kiln info flags them and unknown KILN_* names
  use      on a small Fashion-MNIST run: eval (text and JSON: accuracy, top-5, loss,
           per-class precision and recall, confusion matrix), predict on PNG files of other
           sizes and colour types, plot (SVG and PNG), and their errors
  methods  --schedule (the learning rates in the --log file), --patience (early stopping),
           --loss and --label-smoothing, --rotate, --optimizer rmsprop|adagrad, --json, --quiet
  doctor   kiln doctor: exit 0, every op checked, a report file; --op; errors

Groups that need Fashion-MNIST exit 77 (skip) without it.
"""
import csv
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

DATA = "/usr/share/datasets/fashion-mnist"
MODELS = ["mlp", "lenet", "alexnet", "vgg", "googlenet", "resnet", "gan"]
FAILURES = []


def run(args, env=None, timeout=600, ok=True):
    e = dict(os.environ)
    e.setdefault("KILN_BACKEND", "cpu")
    if env:
        e.update(env)
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=e)
    if ok and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(args), p.returncode, p.stdout,
                                                      p.stderr))
    return p


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def case(fn):
    try:
        fn()
        print("ok   %s" % fn.__name__)
    except AssertionError as err:
        FAILURES.append(fn.__name__)
        print("FAIL %s: %s" % (fn.__name__, err))


def options_of(help_text):
    """The option names of a help text and whether each shows its default."""
    opts = {}
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"  (-{1,2}[a-z][a-z0-9-]*)", line)
        if not m:
            continue
        block = line
        for nxt in lines[i + 1:]:
            if re.match(r"  -", nxt) or not nxt.startswith(" " * 26):
                break
            block += " " + nxt.strip()
        opts[m.group(1)] = "(default:" in block
    return opts


# ==== help ====

def group_help(kiln, out, examples):
    def top_level():
        for args in ([kiln, "help"], [kiln, "--help"], [kiln, "-h"]):
            p = run(args)
            for c in ("train", "eval", "predict", "plot", "doctor", "info", "help"):
                check(re.search(r"^  %s" % c, p.stdout, re.M), "%s lists no %s" % (args, c))
        p = run([kiln], ok=False)
        check(p.returncode == 2 and "usage" in p.stderr, "kiln alone: usage on stderr, exit 2")

    def train_help():
        general = run([kiln, "train", "--help"]).stdout
        check(general == run([kiln, "help", "train"]).stdout, "kiln help train differs")
        opts = options_of(general)
        check(len(opts) > 30, "kiln train --help lists %d options" % len(opts))
        for m in MODELS:
            check(re.search(r"^  %s " % m, general, re.M), "kiln train --help lacks %s" % m)

    def model_help():
        seen = {}
        for m in MODELS:
            h = run([kiln, "train", m, "--help"]).stdout
            check(h == run([kiln, "help", "train", m]).stdout, "help train %s differs" % m)
            opts = options_of(h)
            missing = [o for o, has in opts.items() if not has]
            check(not missing, "kiln train %s --help: no default for %s" % (m, missing))
            seen[m] = opts
        check("--depth" in seen["resnet"] and "--depth" not in seen["lenet"],
              "--depth is resnet's only")
        check("--augment" in seen["vgg"] and "--augment" not in seen["mlp"], "--augment")
        check("--loss" in seen["mlp"] and "--loss" not in seen["gan"], "--loss")
        for o in ("--resume", "--init-from", "--checkpoint-every", "--keep", "--log", "--json",
                  "--quiet", "--out", "--epochs", "--lr", "--schedule"):
            check(all(o in seen[m] for m in MODELS), "%s missing for a model" % o)
        # the defaults are the model's: resnet's weight decay, the GAN's Adam
        wd = re.search(r"--wd X.*?\(default: ([^)]*)\)", run([kiln, "train", "resnet", "-h"])
                       .stdout, re.S)
        check(wd and wd.group(1) == "0.0005", "resnet --wd default")

    def command_help():
        for c in ("eval", "predict", "plot", "doctor", "info"):
            a = run([kiln, c, "--help"]).stdout
            b = run([kiln, "help", c]).stdout
            check(a == b and a.startswith("usage: kiln %s" % c), "%s help" % c)
            opts = options_of(a)
            check(all(opts.values()), "%s --help: an option without its default" % c)

    def usage_errors():
        p = run([kiln, "train", "lenet", "--bogus"], ok=False)
        check(p.returncode == 2 and "kiln train lenet --help" in p.stderr, "bad option: help hint")
        p = run([kiln, "train", "lenet", "--depth", "3"], ok=False)
        check(p.returncode == 2 and "does not take" in p.stderr, "option of another model")
        p = run([kiln, "help", "frob"], ok=False)
        check(p.returncode == 2, "kiln help frob")
        p = run([kiln, "train", "lenet", "--checkpoint-every", "5"], ok=False)
        check(p.returncode == 2 and "--out" in p.stderr, "--checkpoint-every needs --out")
        p = run([kiln, "eval"], ok=False)
        check(p.returncode == 2 and "checkpoint" in p.stderr, "kiln eval without a file")
        # each command's numbers are checked and reported in its own name
        for args, words in ((["eval", "x.safetensors", "--limit", "-5"],
                             "kiln eval: --limit expects an integer in [1, "),
                            (["predict", "x.safetensors", "a.png", "--top", "0"],
                             "kiln predict: --top expects an integer in [1, 256], got '0'"),
                            (["predict", "x.safetensors", "a.png", "--background", "2"],
                             "kiln predict: --background expects a number in [0, 1], got '2'"),
                            (["predict", "x.safetensors", "a.png", "--background", "1e39"],
                             "kiln predict: --background expects a number in [0, 1]"),
                            (["plot", "a.csv", "--width", "5"],
                             "kiln plot: --width expects an integer in [320, 8192], got '5'"),
                            (["train", "lenet", "--rotate", "181"],
                             "kiln train: --rotate expects a number in [0, 180], got '181'"),
                            (["train", "mlp", "--batch", "1e3"],
                             "kiln train: --batch expects an integer in [1, 65536], got '1e3'")):
            p = run([kiln] + args, ok=False)
            check(p.returncode == 2 and words in p.stderr,
                  "%s: exit %d, %s" % (" ".join(args), p.returncode, p.stderr.strip()))

    def example_help():
        for ex in examples:
            p = run([ex, "--help"])
            check(p.stdout.startswith("usage: "), "%s --help" % ex)

    for t in (top_level, train_help, model_help, command_help, usage_errors, example_help):
        case(t)


# ==== env ====

def group_env(kiln, out, _):
    def refused_before_work():
        for var, val, words in (("KILN_CHECK", "yes", "0, 1"), ("KILN_LOG", "loud", "debug"),
                                ("KILN_VK_CONV", "fast", "gemm, direct, reduce, blocked or row"),
                                ("KILN_BACKEND", "cuda", "available backends"),
                                ("KILN_VK_CONV_TILE", "1,2,3", "BM,BN,BK,TM,TN")):
            # --data points nowhere: the configuration error must come first
            p = run([kiln, "train", "mlp", "--data", "/nonexistent"], env={var: val}, ok=False)
            check(p.returncode == 2, "%s=%s: exit %d" % (var, val, p.returncode))
            check(var in p.stderr and words in p.stderr and "Fashion-MNIST" not in p.stderr,
                  "%s=%s: %s" % (var, val, p.stderr.strip()))

    def bad_device_before_data():
        p = run([kiln, "train", "mlp", "--data", "/nonexistent"],
                env={"KILN_BACKEND": "cpu", "KILN_DEVICE": "no-such-gpu"}, ok=False)
        check(p.returncode != 0 and "no-such-gpu" in p.stderr and "Fashion-MNIST" not in
              p.stderr, "a bad KILN_DEVICE is reported before the data: " + p.stderr)

    def info_flags():
        p = run([kiln, "info"], env={"KILN_LOG": "loud", "KILN_BAKCEND": "cpu"}, ok=False)
        check(p.returncode == 1, "kiln info exits 1 on a malformed value")
        check("KILN_LOG=loud: MALFORMED" in p.stdout and "error, warn, info or debug" in p.stdout,
              "kiln info names the malformed variable")
        check("KILN_BAKCEND: not a variable kiln reads" in p.stdout, "unknown names are flagged")
        p = run([kiln, "info"], env={"KILN_CHECK": "nan"})
        check("KILN_CHECK=nan" in p.stdout and "MALFORMED" not in p.stdout, "KILN_CHECK=nan")

    def one_process_models_under_mpirun():
        # mpirun's environment without mpirun: the models data-parallel training does not
        # cover (the image and text classifiers train under mpirun) refuse to start N
        # copies of one run
        for model in ("gan", "charlm", "treenn"):
            p = run([kiln, "train", model, "--max-steps", "1"],
                    env={"KILN_BACKEND": "cpu", "OMPI_COMM_WORLD_SIZE": "2"}, ok=False)
            check(p.returncode == 2 and "trains in one process" in p.stderr,
                  model + " is refused under mpirun: " + p.stderr)

    for t in (refused_before_work, bad_device_before_data, info_flags,
              one_process_models_under_mpirun):
        case(t)


# ==== use: eval, predict, plot ====

def png(path, w, h, rows, color=False):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if color else 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                + chunk(b"IEND", b""))


def test_images(n):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        d = f.read(16 + 784 * n)[16:]
    with gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")) as f:
        lab = f.read(8 + n)[8:]
    return [d[i * 784:(i + 1) * 784] for i in range(n)], list(lab)


def train_small(kiln, out, model="lenet", extra=()):
    os.makedirs(out, exist_ok=True)
    args = [kiln, "train", model, "--epochs", "2", "--train-limit", "3000", "--test-limit",
            "500", "--out", out, "--log", os.path.join(out, "run.csv"), "--quiet"] + list(extra)
    run(args)
    return os.path.join(out, model + ".safetensors")


def group_use(kiln, out, _):
    ck = train_small(kiln, os.path.join(out, "use"))
    imgs, labels = test_images(300)

    def eval_text_and_json():
        j = json.loads(run([kiln, "eval", ck, "--limit", "300", "--json"]).stdout)
        check(j["n"] == 300 and 0.3 < j["accuracy"] <= 1.0, "accuracy %s" % j["accuracy"])
        check(j["top5_accuracy"] >= j["accuracy"], "top-5 >= top-1")
        conf = j["confusion"]
        check(len(conf) == 10 and sum(map(sum, conf)) == 300, "confusion matrix sums to n")
        check(sum(conf[k][k] for k in range(10)) == round(j["accuracy"] * 300), "diagonal")
        # the confusion rows are the test labels
        for k in range(10):
            check(sum(conf[k]) == labels.count(k), "row %d is class %d's support" % (k, k))
        check(j["classes"][0]["name"] == "T-shirt/top" and j["cross_entropy"] > 0, "classes")
        t = run([kiln, "eval", ck, "--limit", "300"]).stdout
        check("accuracy: %.4f" % j["accuracy"] in t and "confusion matrix" in t
              and "Ankle boot" in t and "precision" in t, "text report")

    def predict_pngs():
        d = os.path.join(out, "use")
        paths = []
        for i in range(3):
            p28 = os.path.join(d, "t%d.png" % i)
            png(p28, 28, 28, [imgs[i][r * 28:(r + 1) * 28] for r in range(28)])
            # 3x larger, RGB, dark on white: --invert maps it back to the same input
            big = [[c for x in range(84) for c in (255 - imgs[i][(y // 3) * 28 + x // 3],) * 3]
                   for y in range(84)]
            pbig = os.path.join(d, "t%d_big.png" % i)
            png(pbig, 84, 84, big, True)
            paths += [p28, pbig]
        r1 = [json.loads(l) for l in run([kiln, "predict", ck] + paths[0::2] + ["--json",
                                                                              "--top", "10"])
              .stdout.splitlines()]
        r2 = [json.loads(l) for l in run([kiln, "predict", ck] + paths[1::2] + ["--json",
                                                                              "--top", "10",
                                                                              "--invert"])
              .stdout.splitlines()]
        for a, b in zip(r1, r2):
            check(abs(sum(t["probability"] for t in a["top"]) - 1) < 1e-4, "probabilities")
            pa = {t["class"]: t["probability"] for t in a["top"]}
            pb = {t["class"]: t["probability"] for t in b["top"]}
            check(all(abs(pa[k] - pb[k]) < 1e-4 for k in pa), "resized image, same result")
        # the predictions are the model's: the same as eval's on those images
        j = json.loads(run([kiln, "eval", ck, "--limit", "3", "--json"]).stdout)
        right = sum(1 for i, r in enumerate(r1) if r["top"][0]["class"] == labels[i])
        check(right == sum(j["confusion"][k][k] for k in range(10)), "predict agrees with eval")
        t = run([kiln, "predict", ck, paths[0]]).stdout
        check(t.startswith(paths[0] + ": ") and t.count(",") == 2, "text: three classes")
        p = run([kiln, "predict", ck, os.path.join(d, "run.csv")], ok=False)
        check(p.returncode == 1 and "run.csv" in p.stderr, "a non-PNG is an error naming it")

    def plot_svg_png():
        log = os.path.join(out, "use", "run.csv")
        rows = list(csv.DictReader(open(log)))
        check(rows[0]["kind"] == "step" and any(r["kind"] == "epoch" for r in rows), "log rows")
        check(set(rows[0]) >= {"step", "epoch", "loss", "lr", "test_accuracy", "images_per_s",
                               "elapsed_s"}, "log columns")
        svg = os.path.join(out, "use", "curves.svg")
        run([kiln, "plot", log, log, "-o", svg, "--title", "two runs"])
        root = ET.parse(svg).getroot()
        lines = [e for e in root.iter() if e.tag.endswith("polyline")]
        texts = [e.text for e in root.iter() if e.tag.endswith("text")]
        check(len(lines) > 8 and "two runs" in texts and "accuracy" in texts, "svg content")
        pngp = os.path.join(out, "use", "curves.png")
        run([kiln, "plot", log, "-o", pngp, "--width", "640", "--height", "400"])
        with open(pngp, "rb") as f:
            head = f.read(24)
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (640, 400),
              "png header")
        bad = os.path.join(out, "use", "bad.csv")
        with open(bad, "w") as f:
            f.write("kind,epoch,step,loss\nstep,1,2,0.5\nstep,1,x,0.4\n")
        p = run([kiln, "plot", bad, "-o", svg], ok=False)
        check(p.returncode == 1 and "line 3" in p.stderr, "malformed log: " + p.stderr)
        p = run([kiln, "plot", log, "-o", os.path.join(out, "x.jpg")], ok=False)
        check(p.returncode == 2, "unknown image type")

    def resume_dispatch():
        d = os.path.join(out, "use", "gan")
        os.makedirs(d, exist_ok=True)
        run([kiln, "train", "gan", "--max-steps", "2", "--batch", "16", "--train-limit", "64",
             "--out", d, "--quiet"])
        ck_gan = os.path.join(d, "gan.safetensors")
        # the model comes from the checkpoint: a GAN resumes as a GAN
        p = run([kiln, "train", "--resume", ck_gan, "--max-steps", "4"])
        check("resuming" in p.stdout and "DCGAN" in p.stdout, "GAN resume: " + p.stdout)
        p = run([kiln, "train", "--resume", ck_gan], ok=True)
        check("complete" in p.stderr, "a finished run says so: " + p.stderr)
        p = run([kiln, "train", "lenet", "--resume", ck_gan], ok=False)
        check(p.returncode == 2 and "checkpoint of gan" in p.stderr, "model mismatch")
        p = run([kiln, "train", "--resume", ck, "--lr", "0.5"], ok=False)
        check(p.returncode == 2 and "--lr" in p.stderr and "differs" in p.stderr,
              "a resumed run keeps its options")

    def resume_bad_position():
        # The numbers of the "training" metadata come from a file: a fraction, a signed
        # noise position, 1e300 (undefined as int64_t), a negative count, a non-finite
        # time are each a malformed position, refused before any work.
        d = os.path.join(out, "use", "badpos")
        os.makedirs(d, exist_ok=True)
        b = open(ck, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        header = json.loads(b[8:8 + n])
        good = json.loads(header["__metadata__"]["training"])
        for key, value in (("step", 2.5), ("noise", "-1"), ("epoch", 1e300), ("loss_n", -1),
                           ("elapsed", "nan"), ("steps_per_epoch", 0), ("step", "12x")):
            t = dict(good)
            t[key] = value
            header["__metadata__"]["training"] = json.dumps(t)
            h = json.dumps(header).encode()
            h += b" " * (-len(h) % 8)
            bad = os.path.join(d, "lenet.safetensors")
            with open(bad, "wb") as f:
                f.write(struct.pack("<Q", len(h)) + h + b[8 + n:])
            p = run([kiln, "train", "--resume", bad, "--epochs", "3"], ok=False)
            check(p.returncode == 1 and "malformed one" in p.stderr,
                  "%s %r: exit %d, %s" % (key, value, p.returncode, p.stderr.strip()))

    for t in (eval_text_and_json, predict_pngs, plot_svg_png, resume_dispatch,
              resume_bad_position):
        case(t)


# ==== methods ====

def log_rows(path):
    return list(csv.DictReader(open(path)))


def group_methods(kiln, out, _):
    d = os.path.join(out, "methods")
    os.makedirs(d, exist_ok=True)
    base = [kiln, "train", "mlp", "--train-limit", "1280", "--test-limit", "200", "--batch", "64",
            "--quiet"]

    def schedules():
        lg = os.path.join(d, "step.csv")
        run(base + ["--epochs", "3", "--schedule", "step", "--gamma", "0.5", "--log", lg,
                    "--log-every", "1"])
        lr = {int(r["step"]): float(r["lr"]) for r in log_rows(lg) if r["kind"] == "step"}
        check(lr[1] == 0.01 and lr[20] == 0.01 and lr[21] == 0.005 and lr[41] == 0.0025,
              "step decay per epoch: %s" % [lr[k] for k in (1, 20, 21, 41)])
        lg = os.path.join(d, "cos.csv")
        run(base + ["--epochs", "2", "--schedule", "cosine", "--warmup", "4", "--lr", "0.1",
                    "--log", lg, "--log-every", "1"])
        lr = [float(r["lr"]) for r in log_rows(lg) if r["kind"] == "step"]
        check(abs(lr[0] - 0.1 / 5) < 1e-7 and lr[3] < lr[4] and lr[4] > lr[-1] > 0, "warm-up")
        check(all(a >= b for a, b in zip(lr[4:], lr[5:])), "cosine decreases")

    def early_stopping():
        p = run(base[:-1] + ["--epochs", "8", "--val", "200", "--patience", "2", "--lr", "1e-9"])
        epochs = re.findall(r"^epoch (\d+)/8", p.stdout, re.M)
        check("early stopping" in p.stdout and len(epochs) == 3,
              "no progress at lr 1e-9: stopped after 3 epochs, ran %s" % epochs)

    def losses_and_optimizers():
        for extra in (["--loss", "hinge"], ["--loss", "mse"], ["--label-smoothing", "0.1"],
                      ["--optimizer", "rmsprop", "--lr", "0.001"],
                      ["--optimizer", "adagrad", "--lr", "0.05"]):
            j = json.loads(run(base[:-1] + ["--json"] + extra).stdout)
            check(j["test_accuracy"] > 0.4, "%s: accuracy %s" % (extra, j["test_accuracy"]))
        p = run(base + ["--loss", "hinge", "--label-smoothing", "0.1"], ok=False)
        check(p.returncode == 2, "label smoothing needs xent")

    def rotation():
        j = json.loads(run([kiln, "train", "lenet", "--train-limit", "640", "--test-limit", "200",
                            "--rotate", "15", "--augment", "--json"]).stdout)
        check(j["steps"] == 10 and j["test_accuracy"] >= 0.0, "rotation runs")
        p = run([kiln, "train", "lenet", "--rotate", "200"], ok=False)
        check(p.returncode == 2, "--rotate beyond 180")

    def quiet_and_json():
        p = run(base + ["--max-steps", "3"])
        check(p.stdout == "" and p.stderr == "", "--quiet prints nothing")
        p = run(base[:-1] + ["--max-steps", "3", "--json"])
        j = json.loads(p.stdout)
        check(j["steps"] == 3 and j["model"] == "mlp", "--json summary")

    def progress_bar():
        import fcntl
        import pty
        import termios
        for cols in (60, 120):
            pid, fd = pty.fork()
            if pid == 0:
                os.environ.setdefault("KILN_BACKEND", "cpu")
                os.execv(kiln, [kiln, "train", "mlp", "--train-limit", "1920", "--test-limit",
                                "100", "--epochs", "2"])
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
            data = b""
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            os.waitpid(pid, 0)
            text = data.decode(errors="replace")
            draws = [seg for line in text.split("\n") for seg in line.split("\r")
                     if seg.startswith("epoch ") and "ETA" in seg]
            check(len(draws) > 2, "%d cols: no progress bar redrawn in place" % cols)
            check(all(len(d.rstrip()) < cols for d in draws),
                  "%d cols: a bar line of %d characters" % (cols, max(len(d) for d in draws)))
            check(all(re.search(r"\d+/30 loss \d\.\d{4} \| \d+ img/s \| \d+:\d\d ETA", d)
                      for d in draws), "bar fields: " + draws[-1])
            check(("[" in draws[-1]) == (cols >= 100), "%d cols: the bar drawn only if it fits"
                  % cols)

    for t in (schedules, early_stopping, losses_and_optimizers, rotation, quiet_and_json,
              progress_bar):
        case(t)


# ==== doctor ====

def group_doctor(kiln, out, _):
    def healthy():
        rep = os.path.join(out, "doctor.txt")
        p = run([kiln, "doctor", "--report", rep])
        check("healthy" in p.stdout and "0 failed" in p.stdout, p.stdout[-500:])
        m = re.search(r"(\d+) of (\d+) ops checked", p.stdout)
        check(m and m.group(1) == m.group(2), "every op checked")
        text = open(rep).read()
        check("op self-check" in text and "devices:" in text and "speed:" in text, "report")
        check(("report: " + rep) in p.stdout, "report path printed")

    def one_op_and_errors():
        p = run([kiln, "doctor", "--op", "conv2d", "--no-report", "--verbose"])
        check(p.stdout.count("  ok ") == 3 and "conv2d" in p.stdout, "--op conv2d: 3 cases")
        p = run([kiln, "doctor", "--op", "frob", "--no-report"], ok=False)
        check(p.returncode == 2 and "frob" in p.stdout, "unknown op")
        p = run([kiln, "doctor", "--no-report"], env={"KILN_LOG": "chatty"}, ok=False)
        check(p.returncode == 2 and "KILN_LOG" in p.stderr, "malformed environment")

    for t in (healthy, one_op_and_errors):
        case(t)


def main():
    group, kiln, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    if group in ("use", "methods") and not os.path.exists(
            os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        print("SKIP: no Fashion-MNIST in " + DATA)
        return 77
    {"help": group_help, "env": group_env, "use": group_use, "methods": group_methods,
     "doctor": group_doctor}[group](kiln, out, sys.argv[4:])
    if FAILURES:
        print("failed: " + ", ".join(FAILURES))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
