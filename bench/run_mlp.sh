#!/bin/sh
# run_mlp.sh - one training epoch of the 784-256-128-10 MLP in kiln (backend from
# KILN_BACKEND, default auto) and in PyTorch (CPU, 2 threads), at batch 64 and 256,
# and the ratio of their throughputs. Usage: bench/run_mlp.sh [BUILD_DIR] [DATA_DIR]
# OPENBLAS_CORETYPE is left as the caller set it, for both programs alike.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-"$here/../build"}
data=${2:-/usr/share/datasets/fashion-mnist}
bench="$build/bench/bench_mlp"
if [ ! -x "$bench" ]; then
    echo "run_mlp.sh: $bench not found; build first (meson setup build && ninja -C build)" >&2
    exit 1
fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} KILN_BACKEND=${KILN_BACKEND:-(unset)}"
kiln_out=$("$bench" "$data")
echo "$kiln_out"
torch_out=$(/usr/bin/python3 "$here/torch_mlp.py" "$data")
echo "$torch_out"
for b in 64 256; do
    k=$(echo "$kiln_out" | sed -n "s/^kiln .* batch $b: \([0-9]*\) images.*/\1/p")
    t=$(echo "$torch_out" | sed -n "s/^torch .* batch $b: \([0-9]*\) images.*/\1/p")
    if [ -n "$k" ] && [ -n "$t" ]; then
        awk -v k="$k" -v t="$t" -v b="$b" \
            'BEGIN { printf "batch %s: kiln %d images/s, torch %d images/s, kiln/torch = %.2f\n", b, k, t, k / t }'
    fi
done
