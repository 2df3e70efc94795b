#!/usr/bin/env python3
"""Checks that every public header has its own test TU (STYLE B.2).

Usage: check_header_tus.py SOURCE_ROOT

include/kiln.h needs tests/core/headers/h_kiln.c and include/kiln/NAME.h needs
tests/core/headers/h_NAME.c, whose first #include is that header, and the TU must be
listed in tests/core/meson.build. Compiling the TUs is meson's job; this only makes
sure a new header does not go unchecked.
"""
import os
import re
import sys


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1]
    tu_dir = os.path.join(root, "tests", "core", "headers")
    with open(os.path.join(root, "tests", "core", "meson.build")) as f:
        meson = f.read()
    headers = [("kiln.h", "kiln")]
    for name in sorted(os.listdir(os.path.join(root, "include", "kiln"))):
        if name.endswith(".h"):
            headers.append(("kiln/" + name, name[:-2]))
    bad = 0
    for header, stem in headers:
        tu = f"h_{stem}.c"
        path = os.path.join(tu_dir, tu)
        if not os.path.isfile(path):
            print(f"include/{header}: no test TU {os.path.relpath(path, root)}")
            bad += 1
            continue
        with open(path) as f:
            includes = re.findall(r'^#include\s+[<"]([^>"]+)[>"]', f.read(), re.M)
        if not includes or includes[0] != header:
            print(f"{tu}: the first #include must be \"{header}\", is {includes[:1]}")
            bad += 1
        if f"'headers/{tu}'" not in meson:
            print(f"{tu}: not listed in tests/core/meson.build")
            bad += 1
    print(f"{len(headers)} public headers, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
