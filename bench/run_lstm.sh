#!/bin/sh
# run_lstm.sh - a 1-layer LSTM training step (hidden 256, batch 64, T 64) in kiln
# (build/bench/bench_lstm, backend from KILN_BACKEND, default auto; set KILN_BACKEND=cpu
# for the CPU comparison) and in PyTorch (bench/torch_lstm.py, CPU, 2 threads), run in
# turn ROUNDS times (default 5) so that both see the same machine load, then the median
# of each and their ratio. Usage: bench/run_lstm.sh [BUILD_DIR [ROUNDS [STEPS [CELL]]]]
# Environment such as OMP_WAIT_POLICY or OPENBLAS_CORETYPE applies to both programs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-"$here/../build"}
rounds=${2:-5}
steps=${3:-10}
cell=${4:-lstm}
bench="$build/bench/bench_lstm"
if [ ! -x "$bench" ]; then
    echo "run_lstm.sh: $bench not found; build first (meson setup build && ninja -C build)" >&2
    exit 1
fi
echo "OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-(unset)} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} KILN_BACKEND=${KILN_BACKEND:-(unset)}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
i=0
while [ "$i" -lt "$rounds" ]; do
    "$bench" "$steps" "$cell" | tee -a "$out"
    /usr/bin/python3 "$here/torch_lstm.py" "$steps" "$cell" | tee -a "$out"
    i=$((i + 1))
done
median() { # the median of the numbers on stdin
    sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for what in wall cpu; do
    k=$(sed -n "s/^kiln .*: \([0-9.]*\) ms\/step wall, \([0-9.]*\) ms\/step cpu.*/\1 \2/p" "$out" |
        awk -v w="$what" '{ print (w == "wall") ? $1 : $2 }' | median)
    t=$(sed -n "s/^torch .*: \([0-9.]*\) ms\/step wall, \([0-9.]*\) ms\/step cpu.*/\1 \2/p" "$out" |
        awk -v w="$what" '{ print (w == "wall") ? $1 : $2 }' | median)
    awk -v k="$k" -v t="$t" -v w="$what" -v r="$rounds" \
        'BEGIN { printf "median of %d rounds, %s time: kiln %.1f ms/step, torch %.1f ms/step, kiln/torch = %.2f\n", r, w, k, t, k / t }'
done
