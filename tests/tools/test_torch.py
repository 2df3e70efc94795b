#!/usr/bin/env python3
"""kiln checkpoints and PyTorch: test_torch.py KILN_EXE OUT_DIR

Needs torch (Debian's python3-torch, run by /usr/bin/python3; exits 77 without it or
without Fashion-MNIST). Checks that
  - the checkpoints of `kiln train` (mlp, lenet, vgg with batch norm and dropout, and the
    GAN's two networks) load into the equivalent torch modules with
    load_state_dict(strict=True), after dropping the optimizer state
    ("<parameter>.<kind>"), read with nothing but json and struct;
  - those torch modules compute the probabilities `kiln predict` prints for the same
    images (with the normalization in the checkpoint's metadata);
  - weights exported from PyTorch start a kiln run (--init-from, strict), giving the
    predictions torch gives; an extra tensor is an error naming it unless --partial;
  - the first loss of a run from those weights is PyTorch's: cross-entropy with label
    smoothing, the multi-class hinge loss and the MSE against one-hot labels.
"""
import csv
import gzip
import json
import os
import struct
import subprocess
import sys
import zlib

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIP: no torch (Debian: apt-get install python3-torch)")
    sys.exit(77)

DATA = "/usr/share/datasets/fashion-mnist"
STATE = ("momentum_buffer", "exp_avg", "exp_avg_sq", "square_avg", "sum")
FAILED = []


def read_st(path):
    """{name: tensor}, metadata of a safetensors file (F32, I32, I64)."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    dt = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64}
    out = {}
    for k, v in h.items():
        lo, hi = v["data_offsets"]
        t = torch.frombuffer(bytearray(b[8 + n + lo:8 + n + hi]), dtype=dt[v["dtype"]])
        out[k] = t.reshape(v["shape"])
    return out, meta


def write_st(path, tensors):
    header, blob, off = {}, b"", 0
    for k, t in tensors.items():
        raw = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blob += raw
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


def state_dict_of(path):
    """The module state of a kiln checkpoint: its tensors without the optimizer state."""
    t, meta = read_st(path)
    return {k: v for k, v in t.items() if k.rsplit(".", 1)[-1] not in STATE}, meta


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        widths, c = [16, 16, 32, 32, 64, 64], 1
        for i, w in enumerate(widths, 1):
            setattr(self, "conv%d" % i, nn.Conv2d(c, w, 3, padding=1, bias=False))
            setattr(self, "bn%d" % i, nn.BatchNorm2d(w))
            c = w
        self.fc1, self.fc2, self.drop = nn.Linear(576, 128), nn.Linear(128, 10), nn.Dropout(0.5)

    def forward(self, x):
        for i in range(1, 7):
            x = F.relu(getattr(self, "bn%d" % i)(getattr(self, "conv%d" % i)(x)))
            if i % 2 == 0:
                x = F.max_pool2d(x, 2)
        return self.fc2(self.drop(F.relu(self.fc1(x.flatten(1)))))


class Generator(nn.Module):
    def __init__(self, nz=64, w=16):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(nz, 4 * w, 7, bias=False)
        self.bn1 = nn.BatchNorm2d(4 * w)
        self.conv2, self.bn2 = nn.Conv2d(4 * w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w)
        self.conv3, self.bn3 = nn.Conv2d(2 * w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w)
        self.conv4 = nn.Conv2d(w, 1, 3, padding=1)


class Discriminator(nn.Module):
    def __init__(self, w=32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, w, 4, 2, 1)
        self.conv2 = nn.Conv2d(w, 2 * w, 4, 2, 1)
        self.conv3 = nn.Conv2d(2 * w, 1, 7)


class GAN(nn.Module):
    def __init__(self):
        super().__init__()
        self.gen, self.disc = Generator(), Discriminator()


MODULES = {"mlp": MLP, "lenet": LeNet, "vgg": VGG}


def run(args, ok=True):
    env = dict(os.environ)
    env.setdefault("KILN_BACKEND", "cpu")
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if ok and p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(args), p.returncode, p.stdout,
                                                      p.stderr))
    return p


def case(fn):
    try:
        fn()
        print("ok   " + fn.__name__)
    except AssertionError as e:
        FAILED.append(fn.__name__)
        print("FAIL %s: %s" % (fn.__name__, e))


def test_images(n):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        d = f.read(16 + 784 * n)[16:]
    return [d[i * 784:(i + 1) * 784] for i in range(n)]


def png(path, pixels):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + pixels[r * 28:(r + 1) * 28] for r in range(28))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0,
                                                                   0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def torch_probs(model, meta, imgs):
    norm = json.loads(meta["normalization"])
    x = torch.tensor([list(i) for i in imgs], dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    x = (x - norm["mean"][0]) / norm["std"][0]
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(x), dim=1)


def kiln_probs(kiln, ckpt, pngs):
    out = run([kiln, "predict", ckpt] + pngs + ["--json", "--top", "10"]).stdout.splitlines()
    probs = []
    for line in out:
        p = [0.0] * 10
        for t in json.loads(line)["top"]:
            p[t["class"]] = t["probability"]
        probs.append(p)
    return torch.tensor(probs)


def main():
    kiln, out = sys.argv[1], sys.argv[2]
    if not os.path.exists(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")):
        print("SKIP: no Fashion-MNIST")
        return 77
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    imgs = test_images(12)
    pngs = []
    for i, im in enumerate(imgs):
        pngs.append(os.path.join(out, "img%d.png" % i))
        png(pngs[-1], im)

    def kiln_to_torch():
        for name, cls in MODULES.items():
            d = os.path.join(out, name)
            os.makedirs(d, exist_ok=True)
            run([kiln, "train", name, "--epochs", "1", "--train-limit", "640", "--test-limit", "64",
                 "--out", d, "--quiet"])
            ckpt = os.path.join(d, name + ".safetensors")
            sd, meta = state_dict_of(ckpt)
            model = cls()
            model.load_state_dict(sd, strict=True)
            diff = (torch_probs(model, meta, imgs) - kiln_probs(kiln, ckpt, pngs)).abs().max()
            print("  %s: strict load; predictions within %.2g of kiln predict" % (name, diff))
            if diff > 1e-4:
                raise AssertionError("%s: torch and kiln predictions differ by %g" % (name, diff))

    def gan_to_torch():
        d = os.path.join(out, "gan")
        os.makedirs(d, exist_ok=True)
        run([kiln, "train", "gan", "--max-steps", "3", "--batch", "16", "--train-limit", "64",
             "--out", d, "--quiet"])
        sd, meta = state_dict_of(os.path.join(d, "gan.safetensors"))
        GAN().load_state_dict(sd, strict=True)
        if json.loads(meta["config"])["model"] != "gan":
            raise AssertionError("metadata")

    def torch_to_kiln():
        d = os.path.join(out, "from-torch")
        os.makedirs(d, exist_ok=True)
        model = LeNet()
        src = os.path.join(d, "torch_lenet.safetensors")
        write_st(src, model.state_dict())
        # a step of lr 1e-12 leaves the weights as torch made them (to float32 rounding)
        run([kiln, "train", "lenet", "--init-from", src, "--max-steps", "1", "--lr", "1e-12",
             "--train-limit", "64", "--test-limit", "64", "--out", d, "--quiet"])
        ckpt = os.path.join(d, "lenet.safetensors")
        _, meta = read_st(ckpt)
        diff = (torch_probs(model, meta, imgs) - kiln_probs(kiln, ckpt, pngs)).abs().max()
        if diff > 1e-4:
            raise AssertionError("torch weights in kiln: predictions differ by %g" % diff)
        extra = dict(model.state_dict())
        extra["head.weight"] = torch.zeros(3, 3)
        bad = os.path.join(d, "extra.safetensors")
        write_st(bad, extra)
        p = run([kiln, "train", "lenet", "--init-from", bad, "--max-steps", "1", "--train-limit",
                 "64"], ok=False)
        if p.returncode == 0 or "head.weight" not in p.stderr:
            raise AssertionError("an extra tensor must be an error naming it: " + p.stderr)
        p = run([kiln, "train", "lenet", "--init-from", bad, "--partial", "--max-steps", "1",
                 "--train-limit", "64", "--test-limit", "64"])
        if "1 extra (first head.weight)" not in p.stdout:
            raise AssertionError("--partial reports the skipped tensor: " + p.stdout)
        small = dict(model.state_dict())
        small["fc3.weight"] = torch.zeros(5, 84)
        write_st(bad, small)
        p = run([kiln, "train", "lenet", "--init-from", bad, "--max-steps", "1"], ok=False)
        if p.returncode == 0 or "fc3.weight" not in p.stderr:
            raise AssertionError("a mis-shaped tensor must be an error naming it")

    def first_losses():
        d = os.path.join(out, "losses")
        os.makedirs(d, exist_ok=True)
        model = MLP()
        src = os.path.join(d, "mlp.safetensors")
        write_st(src, model.state_dict())
        with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
            x = torch.tensor(list(f.read(16 + 784 * 64)[16:]), dtype=torch.float64) / 255.0
        with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
            y = torch.tensor(list(f.read(8 + 64)[8:]))
        x = ((x - x.mean()) / x.std(unbiased=False)).reshape(64, 784).float()
        with torch.no_grad():
            logits = model(x)
        want = {
            "xent+ls": F.cross_entropy(logits, y, label_smoothing=0.1),
            "hinge": F.multi_margin_loss(logits, y),
            "mse": F.mse_loss(logits, F.one_hot(y, 10).float()),
        }
        for name, extra in (("xent+ls", ["--label-smoothing", "0.1"]),
                            ("hinge", ["--loss", "hinge"]), ("mse", ["--loss", "mse"])):
            log = os.path.join(d, "log.csv")
            # one batch of all 64 images: the mean loss does not depend on their order
            run([kiln, "train", "mlp", "--init-from", src, "--train-limit", "64", "--batch", "64",
                 "--max-steps", "1", "--log", log, "--log-every", "1", "--test-limit", "64",
                 "--quiet"] + extra)
            got = float([r for r in csv.DictReader(open(log)) if r["kind"] == "step"][0]["loss"])
            print("  %s: kiln %.6g, torch %.6g" % (name, got, float(want[name])))
            if abs(got - float(want[name])) > 2e-5 * abs(float(want[name])) + 1e-6:
                raise AssertionError("%s: kiln %g, torch %g" % (name, got, float(want[name])))

    for t in (kiln_to_torch, gan_to_torch, torch_to_kiln, first_losses):
        case(t)
    if FAILED:
        print("failed: " + ", ".join(FAILED))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
