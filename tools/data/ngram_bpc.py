#!/usr/bin/env python3
"""Character n-gram baselines for kiln's character language model, in bits per character.

Usage: ngram_bpc.py [--orders 1,2,3,4] [--alpha 0.01] [--held-out 0.1] [--limit N]
                    [--normalize] FILE

Reads FILE as UTF-8 (the first N characters with --limit), trains an add-alpha smoothed
n-gram model of each order on the first (1 - held_out) of its characters (the cut is
int((1 - held_out) * n), as kiln's kiln_lm_text_load makes it) and prints the
held-out cross-entropy in bits per character:

    P(c | h) = (count(h c) + alpha) / (count(h) + alpha V)

where h is the previous order - 1 characters and V the number of distinct characters
of the whole text. The first order - 1 held-out characters, which have no context
inside the held-out part, are not scored.

--normalize maps the curly quotes U+2018, U+2019 to ' and U+201C, U+201D to " and
joins the hard-wrapped lines of each paragraph with a space (a newline not next to
another newline becomes a space). On Moby Dick (tools/data/get_moby_dick.sh) that
gives the 81-character text whose numbers DATASETS.md section 2 lists (unigram 4.44,
bigram 3.48, trigram 2.84, 4-gram 2.39); the file as published, which kiln's loader
reads unchanged, gives 4.50, 3.55, 2.90 and 2.47. Python standard library only.
"""
import argparse
import collections
import math
import re
import sys

QUOTES = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'}
WRAPPED_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")


def normalize(text):
    return WRAPPED_NEWLINE.sub(" ", text.translate(QUOTES))


def bits_per_char(train, test, order, alpha, n_symbols):
    k = order - 1
    ctx = collections.Counter()
    full = collections.Counter()
    for i in range(k, len(train)):
        full[train[i - k:i + 1]] += 1
        ctx[train[i - k:i]] += 1
    total = 0.0
    n = 0
    for i in range(k, len(test)):
        c = full.get(test[i - k:i + 1], 0)
        h = ctx.get(test[i - k:i], 0)
        total -= math.log2((c + alpha) / (h + alpha * n_symbols))
        n += 1
    return total / n


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--orders", default="1,2,3,4")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--held-out", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--normalize", action="store_true")
    args = ap.parse_args(argv)
    with open(args.file, encoding="utf-8", newline="") as f:
        text = f.read()
    if args.limit > 0:
        text = text[:args.limit]
    if args.normalize:
        text = normalize(text)
    cut = int((1.0 - args.held_out) * len(text))
    train, test = text[:cut], text[cut:]
    orders = [int(o) for o in args.orders.split(",")]
    if not train or len(test) <= max(orders):
        print("ngram_bpc.py: the text is too short", file=sys.stderr)
        return 1
    n_symbols = len(set(text))
    print(f"{args.file}: {len(text)} characters ({len(train)} train, {len(test)} held out), "
          f"{n_symbols} distinct{', normalized' if args.normalize else ''}")
    for order in orders:
        bpc = bits_per_char(train, test, order, args.alpha, n_symbols)
        print(f"{order}-gram: {bpc:.3f} bits/char")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
