#!/bin/sh
# mpi_scaling.sh - data-parallel training against one process on this machine:
# `mpirun -np 2 kiln train MODEL` with one thread per rank against one process with two
# threads, the same global batch (64), on the CPU backend, for the MLP, LeNet-5,
# ResNet-20 and the LSTM text classifier (textrnn with its defaults on fortunes-zh-5,
# which Meson builds into BUILD_DIR/tools/data); prints a markdown table of images (or
# texts) per second, the bytes all-reduced per step and the time each step spends in the
# gradient reduction (README, "Data-parallel training").
#
# Usage: bench/mpi_scaling.sh [BUILD_DIR] [ROUNDS]   (default build, 3 rounds)
# Each cell is the median over the rounds, which interleave the two ways of running so
# that both see the same load.
set -eu
BUILD=${1:-build}
ROUNDS=${2:-3}
KILN="$BUILD/tools/kiln"
export KILN_BACKEND=cpu OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# model, steps (textrnn: one epoch of fortunes-zh-5)
MODELS="mlp:300 lenet:150 resnet:12 textrnn:30"

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}

# The images/s (texts/s) of a run's summary line ("training X s, Y images/s").
ips() {
    sed -n 's/.*training [0-9.]* s, \([0-9.]*\) \(images\|texts\)\/s.*/\1/p' "$1" | tail -1
}

start=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
    for ms in $MODELS; do
        m=${ms%%:*}
        s=${ms#*:}
        args="train $m --max-steps $s --batch 64 --train-limit 8192 --test-limit 64"
        if [ "$m" = textrnn ]; then
            args="train $m --max-steps $s --batch 64"
        fi
        OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $KILN $args >"$TMP/$m.one.$r" 2>&1
        OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun -np 2 --oversubscribe --bind-to none \
            -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS $KILN $args >"$TMP/$m.mpi.$r" 2>&1
    done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "Measured $start, $(nproc) cores, load average $load0 at the start and $load1 at the end;"
echo "median of $ROUNDS interleaved rounds; CPU backend, global batch 64."
echo
echo "| model | gradient bytes per step | one process, 2 threads: images (texts)/s | mpirun -np 2, 1 thread each: images (texts)/s | ratio | all-reduce per step (ms) | of which waiting for MPI (ms) | share of the step |"
echo "|---|---|---|---|---|---|---|---|"
for ms in $MODELS; do
    m=${ms%%:*}
    one=$(for r in $(seq "$ROUNDS"); do ips "$TMP/$m.one.$r"; done | median)
    two=$(for r in $(seq "$ROUNDS"); do ips "$TMP/$m.mpi.$r"; done | median)
    bytes=$(sed -n 's/^communication: [0-9]* gradient reductions of \([0-9]*\) bytes.*/\1/p' \
        "$TMP/$m.mpi.1")
    comm=$(for r in $(seq "$ROUNDS"); do
        sed -n 's/.*), \([0-9.]*\) ms per step.*/\1/p' "$TMP/$m.mpi.$r"; done | median)
    wait=$(for r in $(seq "$ROUNDS"); do
        sed -n 's/.*ms per step (\([0-9.]*\) ms waiting.*/\1/p' "$TMP/$m.mpi.$r"; done | median)
    echo "$m $bytes $one $two $comm $wait" | awk '{
        step = 64 / $4 * 1000;
        printf "| %s | %s | %.0f | %.0f | %.2fx | %.2f | %.2f | %.0f %% |\n",
            $1, $2, $3, $4, $4 / $3, $5, $6, 100 * $5 / step }'
done
echo
echo "One mpirun output (LeNet-5, round 1):"
echo
sed 's/^/    /' "$TMP/lenet.mpi.1" | grep -v ' step [0-9]*/'
