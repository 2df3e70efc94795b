#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpora of kiln's fuzz targets (fuzz/), so that no
binary file is committed. Standard library only.

    tools/fuzz/make_corpus.py OUT_DIR

writes OUT_DIR/idx/* and OUT_DIR/safetensors/*: small valid inputs of every shape the
readers accept, and a few malformed ones near the checks (truncations, sizes that wrap,
duplicate names, holes, overlaps, padding, escapes), from which libFuzzer mutates.
The IDX inputs follow fuzz/fuzz_idx.c's layout: limit, classes - 1, the image file's
length (2 bytes, little-endian), the image file, the label file.
"""
import gzip
import json
import os
import struct
import sys


def idx_file(dims, data, dtype=0x08, magic=None):
    head = magic if magic is not None else bytes([0, 0, dtype, len(dims)])
    return head + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_input(images, labels, limit=0, classes=10):
    return bytes([limit, classes - 1]) + struct.pack("<H", len(images)) + images + labels


def idx_seeds():
    seeds = {}
    n, r, c = 5, 3, 2
    pix = bytes((i * 37) % 256 for i in range(n * r * c))
    img = idx_file([n, r, c], pix)
    lab = idx_file([n], bytes(i % 10 for i in range(n)))
    seeds["valid_raw"] = idx_input(img, lab)
    seeds["valid_gz"] = idx_input(gzip.compress(img), gzip.compress(lab))
    seeds["valid_limit"] = idx_input(img, lab, limit=2)
    seeds["vectors"] = idx_input(idx_file([4, 3], bytes(range(12))), idx_file([4], bytes([0, 1, 2, 3])))
    seeds["rank4"] = idx_input(idx_file([2, 2, 2, 2], bytes(range(16))), idx_file([2], bytes([1, 0])))
    seeds["empty"] = idx_input(idx_file([0, 2, 2], b""), idx_file([0], b""))
    seeds["truncated"] = idx_input(img[:-3], lab)
    seeds["label_range"] = idx_input(img, lab, classes=3)
    seeds["bad_magic"] = idx_input(idx_file([n, r, c], pix, magic=b"\x12\x34\x08\x03"), lab)
    seeds["wrap"] = idx_input(idx_file([128, 1 << 30, 1 << 25], b"\x07" * 64), idx_file([128], bytes(128)))
    seeds["claims_more"] = idx_input(idx_file([16, 1 << 15, 1 << 15], b"\x01" * 256), idx_file([16], bytes(16)))
    seeds["mismatch"] = idx_input(img, idx_file([n + 1], bytes(n + 1)))
    return seeds


def st_file(entries, data, meta=None, pad=True, raw_header=None):
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    header.update(entries)
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st_seeds():
    seeds = {}
    w = struct.pack("<6f", *[0.5 * i for i in range(6)])
    seeds["one"] = st_file({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}, w)
    seeds["meta"] = st_file(
        {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
         "b": {"dtype": "I64", "shape": [1], "data_offsets": [24, 32]}},
        w + struct.pack("<q", 7), meta={"format": "pt", "model": "r\u00e9snet \"8\""})
    ents, data, off = {}, b"", 0
    for name, dt, shape, size in [("h", "BF16", [3], 6), ("u", "U8", [2, 2], 4), ("q", "BOOL", [], 1),
                                  ("f", "F16", [1], 2), ("d", "F64", [1], 8), ("i", "I32", [1], 4),
                                  ("e", "F32", [0, 4], 0), ("r8", "F32", [1] * 7 + [2], 8),
                                  ("r9", "F32", [1] * 9, 4), ("n", "F4", [4], 2),
                                  ("c", "C64", [1], 8), ("z", "F8_E4M3", [3], 3)]:
        ents[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + size]}
        data += bytes((off + k) % 251 for k in range(size))
        off += size
    seeds["dtypes"] = st_file(ents, data)
    seeds["unpadded"] = st_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, w[:4], pad=False)
    seeds["extra_field"] = st_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4],
                                          "x": {"y": [1, 2.5, None, True, "s"]}}}, w[:4])
    seeds["empty"] = st_file({}, b"")
    seeds["escapes"] = st_file({"a\"\\/\u00e9\U0001F600\n": {"dtype": "F32", "shape": [1],
                                                             "data_offsets": [0, 4]}}, w[:4])
    seeds["dup"] = st_file({}, w[:8], raw_header=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                                  b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
    seeds["overlap"] = st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, w[:12])
    seeds["hole"] = st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, w[:8])
    seeds["fraction"] = st_file({}, w[:4], raw_header=b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}')
    seeds["garbage"] = st_file({}, w[:4], raw_header=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}xy')
    seeds["big_shape"] = st_file({"a": {"dtype": "F32", "shape": [1 << 32, 1 << 32], "data_offsets": [0, 4]}}, w[:4])
    seeds["nul"] = st_file({}, w[:4], raw_header=b'{"a\\u0000":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    seeds["trailing"] = st_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, w[:8])
    return seeds


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    out = sys.argv[1]
    for target, seeds in (("idx", idx_seeds()), ("safetensors", st_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, blob in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(blob)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
