#!/usr/bin/env python3
"""Checks the file size budget of STYLE.md B.11.

Usage: check_file_size.py SOURCE_ROOT      check src/, include/, shaders/, opencl/, tests/
       check_file_size.py --self-test      check that an oversized file is reported

Fails (exit 1) when a file is over its hard limit: C sources 1500 lines, headers 800,
Vulkan compute shaders (.comp) and OpenCL kernels (.cl) 400. Files over the soft limit
(800, 400 and 200) are listed as notes and do not fail. The per-function budget is not
checked here.
"""
import os
import sys
import tempfile

DIRS = ("src", "include", "shaders", "opencl", "tests")

# suffix: (soft, hard)
LIMITS = {
    ".c": (800, 1500),
    ".h": (400, 800),
    ".comp": (200, 400),
    ".cl": (200, 400),
}


def count_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    n = data.count(b"\n")
    if data and not data.endswith(b"\n"):
        n += 1
    return n


def check(root, out=sys.stdout):
    """Returns the list of (path, lines, hard limit) over the hard limit under root."""
    over = []
    n_files = 0
    for d in DIRS:
        top = os.path.join(root, d)
        if not os.path.isdir(top):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(x for x in dirnames
                                 if not x.startswith(".") and x != "__pycache__")
            for name in sorted(filenames):
                suffix = os.path.splitext(name)[1]
                if suffix not in LIMITS:
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                soft, hard = LIMITS[suffix]
                n = count_lines(path)
                n_files += 1
                if n > hard:
                    over.append((rel, n, hard))
                    print(f"{rel}: {n} lines, over the hard limit of {hard} for {suffix} files",
                          file=out)
                elif n > soft:
                    print(f"note: {rel}: {n} lines, over the soft limit of {soft}; "
                          f"split it by family or object (STYLE B.11)", file=out)
    print(f"checked {n_files} files under {', '.join(DIRS)}: {len(over)} over the hard limit",
          file=out)
    return over


def self_test():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "src", "ops"))
        os.makedirs(os.path.join(root, "shaders"))
        os.makedirs(os.path.join(root, "build"))
        files = {
            "src/ops/ok.c": 1500,          # at the limit: fine
            "src/ops/big.c": 1501,         # over
            "shaders/k.comp": 401,         # over
            "src/x.h": 700,                # soft only
            "build/huge.c": 5000,          # not a checked folder
            "src/notes.txt": 5000,         # not a checked suffix
        }
        for rel, n in files.items():
            with open(os.path.join(root, rel), "w") as f:
                f.write("x\n" * n)
        with open(os.devnull, "w") as null:
            over = check(root, null)
        got = sorted(p for p, _, _ in over)
        want = sorted([os.path.join("shaders", "k.comp"), os.path.join("src", "ops", "big.c")])
        if got != want:
            print(f"self-test failed: reported {got}, expected {want}")
            return 1
    print("self-test passed")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 1 if check(argv[1]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
