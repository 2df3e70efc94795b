#!/usr/bin/env python3
"""Builds the fortunes-zh-5 text classification data set from Debian's fortunes-zh.

Usage: make_fortunes_zh.py [--src DIR] [--classes 5|4] [--check] OUT_DIR

Reads chinese, tang300 and song100 from DIR (default /usr/share/games/fortunes, the
files of the Debian package fortunes-zh) and writes OUT_DIR/train.tsv and
OUT_DIR/test.tsv, one example a line, label<TAB>text, UTF-8. The derivation is the
one of /work/shared/DATASETS.md section 4.1 (the README's "Data" section repeats it):

 1. Each file is split into records on lines equal to "%", after removing the ANSI
    colour escapes ESC[...m.
 2. chinese: the attribution is the last line that starts, after blanks, with "--";
    records whose attribution names 谚语 (proverb), 论语 (analects), 菜根谭 (caigentan) or
    增广贤文 (zengguang) are kept, every other record is skipped. The text is the
    lines before the attribution (the attribution names the label, so it is dropped).
 3. tang300 and song100: every record is poetry; its title line (starting with 《 or
    题目:《) and author line (starting with 作者) are dropped.
 4. All whitespace is removed from a text (the texts are classical Chinese, whose
    line breaks only lay out the verse), empty texts are skipped, and duplicates are
    dropped, keeping the first in the order chinese, tang300, song100.
 5. Labels are the class names in alphabetical order; within each class, in file
    order, item i goes to test.tsv when i % 5 == 4, else to train.tsv.

--classes 4 leaves out zengguang (the class most often confused with proverb).
Prints the per-class counts; --check also compares them with the published table and
fails when they differ. Exits 77 (the skip status of Meson's tests) when the source
files are missing, 1 on a mismatch or an error. Python standard library only.
"""
import argparse
import os
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WHITESPACE = re.compile(r"\s+")
ATTRIBUTIONS = (("谚语", "proverb"), ("论语", "analects"), ("菜根谭", "caigentan"),
                ("增广贤文", "zengguang"))
# class: (samples, train, test) of DATASETS.md 4.1.
EXPECTED = {
    "analects": (537, 430, 107),
    "caigentan": (359, 288, 71),
    "poetry": (408, 327, 81),
    "proverb": (759, 608, 151),
    "zengguang": (348, 279, 69),
}
SOURCES = ("chinese", "tang300", "song100")


def records(path):
    """Yields each record of a fortune file as a list of lines, escapes removed."""
    with open(path, encoding="utf-8") as f:
        text = ANSI.sub("", f.read())
    cur = []
    for line in text.split("\n"):
        if line == "%":
            yield cur
            cur = []
        else:
            cur.append(line)
    yield cur


def chinese_items(path):
    for rec in records(path):
        att = None
        for i, line in enumerate(rec):
            if line.lstrip().startswith("--"):
                att = i
        if att is None:
            continue
        labels = [name for key, name in ATTRIBUTIONS if key in rec[att]]
        if len(labels) == 1:
            yield labels[0], rec[:att]


def poetry_items(path):
    for rec in records(path):
        lines = [l for l in rec if not (l.startswith("《") or l.startswith("题目:《")
                                         or l.startswith("作者"))]
        yield "poetry", lines


def build(src, n_classes):
    """Returns {label: [text, ...]} in file order, deduplicated."""
    items = list(chinese_items(os.path.join(src, "chinese")))
    for name in ("tang300", "song100"):
        items += list(poetry_items(os.path.join(src, name)))
    seen = set()
    classes = {}
    for label, lines in items:
        text = WHITESPACE.sub("", "\n".join(lines))
        if not text or text in seen:
            continue
        seen.add(text)
        if n_classes == 4 and label == "zengguang":
            continue
        classes.setdefault(label, []).append(text)
    return classes


def write_split(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for label, text in rows:
            f.write(f"{label}\t{text}\n")
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--src", default="/usr/share/games/fortunes")
    ap.add_argument("--classes", type=int, choices=(4, 5), default=5)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    missing = [n for n in SOURCES if not os.path.isfile(os.path.join(args.src, n))]
    if missing:
        print(f"make_fortunes_zh.py: {', '.join(missing)} not found in {args.src}; "
              "install the Debian package fortunes-zh (apt-get install fortunes-zh)",
              file=sys.stderr)
        return 77
    classes = build(args.src, args.classes)
    train, test = [], []
    print(f"fortunes-zh-{args.classes}: class samples train test")
    ok = True
    for label in sorted(classes):
        texts = classes[label]
        n_test = 0
        for i, text in enumerate(texts):
            if i % 5 == 4:
                test.append((label, text))
                n_test += 1
            else:
                train.append((label, text))
        got = (len(texts), len(texts) - n_test, n_test)
        note = ""
        if args.check and got != EXPECTED.get(label):
            note = f"  expected {EXPECTED.get(label)}"
            ok = False
        print(f"  {label:10s} {got[0]:5d} {got[1]:5d} {got[2]:4d}{note}")
    print(f"  {'total':10s} {len(train) + len(test):5d} {len(train):5d} {len(test):4d}")
    want = set(EXPECTED) - ({"zengguang"} if args.classes == 4 else set())
    if args.check and set(classes) != want:
        print(f"classes {sorted(classes)}, expected {sorted(want)}", file=sys.stderr)
        ok = False
    os.makedirs(args.out_dir, exist_ok=True)
    write_split(os.path.join(args.out_dir, "train.tsv"), train)
    write_split(os.path.join(args.out_dir, "test.tsv"), test)
    if not ok:
        print("make_fortunes_zh.py: the counts differ from DATASETS.md 4.1", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
