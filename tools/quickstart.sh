#!/bin/sh
# quickstart.sh - from a fresh Debian 12 machine to a trained network: install the
# dependencies (as root, unless KILN_NO_APT=1), build kiln in ./build, print the
# backends and devices, and train the Fashion-MNIST MLP for one epoch on the default
# backend (KILN_BACKEND, else auto). Extra arguments go to `kiln train mlp`.
set -eu
cd "$(dirname "$0")/.."
tools/install_deps.sh
if [ -d build ]; then
    meson setup --reconfigure build
else
    meson setup build
fi
ninja -C build
build/tools/kiln info
build/tools/kiln train mlp --epochs 1 "$@"
