#!/bin/sh
# get_diabetes.sh - writes scikit-learn's diabetes regression data (442 patients, 10
# baseline variables, a disease-progression target one year later) as a CSV file with a
# header, for kiln's CSV reader, and prints its path. The data comes from Debian's
# python3-sklearn package file: `apt-get download python3-sklearn` into a cache
# directory (the package is not installed, so none of its 51 dependencies come along),
# then diabetes_data_raw.csv.gz (space-separated, unscaled: age, sex 1/2, bmi, bp,
# s1..s6) and diabetes_target.csv.gz are taken out of it with dpkg-deb and joined into
# diabetes.csv: age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target (values as the package has them).
#
# Usage: tools/data/get_diabetes.sh [CACHE_DIR]
# CACHE_DIR defaults to $KILN_DATA_DIR, else ${XDG_CACHE_HOME:-~/.cache}/kiln/data.
# An existing diabetes.csv is reused. Needs apt-get's package lists (apt-get update).
set -eu
cache=${1:-${KILN_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/data}}
dest=$cache/diabetes
out=$dest/diabetes.csv
DATA=./usr/lib/python3/dist-packages/sklearn/datasets/data

if [ -s "$out" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
deb=$(ls "$dest"/python3-sklearn_*.deb 2> /dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
    if ! (cd "$tmp" && apt-get download -q python3-sklearn > download.log 2>&1); then
        cat "$tmp/download.log" >&2
        echo "get_diabetes.sh: apt-get download python3-sklearn failed (run apt-get update?)" >&2
        exit 1
    fi
    mv "$tmp"/python3-sklearn_*.deb "$dest/"
    deb=$(ls "$dest"/python3-sklearn_*.deb | head -n 1)
fi
dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$tmp" "$DATA/diabetes_data_raw.csv.gz" "$DATA/diabetes_target.csv.gz"
python3 - "$tmp/$DATA" "$tmp/diabetes.csv" << 'PY'
import gzip, sys
src, out = sys.argv[1], sys.argv[2]
with gzip.open(src + "/diabetes_data_raw.csv.gz", "rt") as f:
    rows = [line.split() for line in f if line.strip()]
with gzip.open(src + "/diabetes_target.csv.gz", "rt") as f:
    target = [float(line) for line in f if line.strip()]
if len(rows) != 442 or len(target) != 442 or any(len(r) != 10 for r in rows):
    sys.exit(f"get_diabetes.sh: expected 442 rows of 10 values and 442 targets, got "
             f"{len(rows)} rows and {len(target)} targets")
with open(out, "w") as f:
    f.write("age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target\n")
    for r, t in zip(rows, target):
        f.write(",".join(r) + "," + format(t, "g") + "\n")
PY
mv "$tmp/diabetes.csv" "$out"
echo "$out"
