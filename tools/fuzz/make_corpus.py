#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpora of kiln's fuzz targets (fuzz/), so that no
binary file is committed. Standard library only.

    tools/fuzz/make_corpus.py OUT_DIR

writes OUT_DIR/<target>/* for idx, safetensors, text, csv and png: small valid inputs of
every shape the readers accept, and a few malformed ones near the checks (truncations,
sizes that wrap, duplicate names, holes, overlaps, padding, escapes, bad UTF-8, stray
quotes), from which libFuzzer mutates. Inputs follow the layouts described at the top
of each fuzz/fuzz_<target>.c.
"""
import gzip
import json
import os
import struct
import sys
import zlib


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


def text_input(train, test, valid=None, bigrams=False):
    flags = (2 if valid is not None else 0) | (4 if bigrams else 0)
    tr, te = train.encode(), test.encode()
    return bytes([flags]) + struct.pack("<HH", len(tr), len(te)) + tr + te + (valid or "").encode()


def text_seeds():
    train = "pos\tgood film\nneg\tbad film\npos\t\u5f88\u597d\u7684\u7535\u5f71\nneg\tno\r\n"
    test = "pos\tgreat\nneg\tawful film\n"
    vocab = {"format": "kiln-vocab", "version": 1, "chars": [102, 105, 108, 109, 0x5f88],
             "bigrams": [[102, 105]], "labels": ["neg", "pos"]}
    return {
        "tsv": text_input(train, test),
        "tsv_valid": text_input(train, test, valid="neg\tmeh\n", bigrams=True),
        "tsv_bom": text_input("\ufeff" + train, test),
        "tsv_no_tab": text_input("pos good\n", test),
        "tsv_unknown_label": text_input(train, "odd\tthing\n"),
        "tsv_bad_utf8": bytes([0]) + struct.pack("<HH", 7, 6) + b"pos\tx\xc3\n" + b"pos\ty\n",
        "vocab": b"\x01" + json.dumps(vocab).encode(),
        "vocab_dup": b"\x01" + json.dumps(dict(vocab, chars=[102, 102])).encode(),
    }


def csv_seeds():
    table = "a,b,target\n1,2.5,3\n-1,0,4e-1\n\n7,8,9\n"
    return {
        "numbers": b"\x00" + table.encode(),
        "gzip": b"\x00" + gzip.compress(table.encode()),
        "classes": b"\x08" + b'x;y;kind\r\n1;2;"cat"\r\n3;4;dog\r\n5;6;"a ""b"" c"\r\n',
        "tabs": b"\x02" + b"1\t2\t3\n4\t5\t6\n",
        "blanks": b"\x07" + b"  1 2   3\n 4\t5 6 \n",
        "quoted_newline": b"\x08" + b'a,b,c\n1,2,"x\ny"\n',
        "stray_quote": b"\x00" + b'a,b\n1,2"3\n',
        "short_row": b"\x00" + b"a,b,c\n1,2\n",
        "inf": b"\x00" + b"a,b\n1e39,2\nnan,3\n",
        "dup_header": b"\x00" + b"a,a\n1,2\n",
    }


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(w, h, color, depth, rows, plte=None, trns=None):
    """A PNG of the given raw rows (each with its filter byte already)."""
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if plte is not None:
        out += png_chunk(b"PLTE", plte)
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    return out + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")


def png_seeds():
    g8 = b"".join(b"\x00" + bytes((x * 40 + y * 9) % 256 for x in range(5)) for y in range(3))
    rgb = b"".join(b"\x01" + bytes((x * 11 + c * 70) % 256 for x in range(4) for c in range(3)) for _ in range(2))
    rgba16 = b"".join(b"\x00" + b"".join(struct.pack(">HHHH", 1000 * x, 200, 65535, 30000) for x in range(3))
                      for _ in range(2))
    pal = b"".join(b"\x00" + bytes([0b00011011]) for _ in range(4))
    g1 = b"".join(b"\x00" + bytes([0b10100000]) for _ in range(3))
    seeds = {
        "gray8": png(5, 3, 0, 8, g8),
        "rgb8_sub": png(4, 2, 2, 8, rgb),
        "rgba16": png(3, 2, 6, 16, rgba16),
        "palette2_trns": png(4, 4, 3, 2, pal, plte=bytes(range(12)), trns=b"\x00\x80"),
        "gray1": png(3, 3, 0, 1, g1),
        "gray_alpha8": png(2, 1, 4, 8, b"\x00\x10\xff\x80\x40"),
        "gray_key": png(5, 3, 0, 8, g8, trns=b"\x00\x28"),
    }
    seeds["truncated"] = seeds["gray8"][:-20]
    seeds["huge"] = png(70000, 1, 0, 8, b"\x00" * 10)
    return seeds


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    out = sys.argv[1]
    for target, seeds in (("idx", idx_seeds()), ("safetensors", st_seeds()), ("text", text_seeds()),
                          ("csv", csv_seeds()), ("png", png_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, blob in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(blob)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
