#!/bin/sh
# run.sh - builds and runs kiln's libFuzzer targets (fuzz/).
#
#   tools/fuzz/run.sh --build DIR          configure DIR with clang, -Dfuzz=true and
#                                          ASan+UBSan, and build the targets
#   tools/fuzz/run.sh DIR SECONDS [T...]   run each target T (default: all) for SECONDS,
#                                          KILN_FUZZ_JOBS at a time (default: the
#                                          number of CPUs), from the seeds of
#                                          tools/fuzz/make_corpus.py plus DIR/corpus/T
#
# Each target is one single-threaded process, so on a 2-core machine two of them at a
# time each fuzz for the whole SECONDS on a core of their own, in half the wall time.
# The corpus grows in DIR/corpus/T across runs; a crash, leak, timeout or sanitizer
# report leaves its input in DIR/artifacts/ and makes the exit status non-zero. The last
# lines of each run (executions per second, corpus size) are printed. Extra libFuzzer
# flags can be passed in KILN_FUZZ_FLAGS.
set -u
cd "$(dirname "$0")/../.."
TARGETS="idx safetensors text csv png"

if [ "${1:-}" = "--build" ]; then
    dir=${2:?usage: run.sh --build DIR}
    rm -f "$dir/.kiln-built"
    wipe=""
    if [ -d "$dir" ]; then
        wipe="--wipe"
    fi
    # Only the library and the targets: no GPU backends, no tests.
    CC=${FUZZ_CC:-clang} meson setup $wipe "$dir" -Dfuzz=true -Dtests=false \
        -Dopencl=disabled -Dvulkan=disabled -Dclblast=disabled -Dopenmp=disabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false || exit 1
    targets=""
    for t in $TARGETS; do
        targets="$targets fuzz/fuzz_$t"
    done
    # shellcheck disable=SC2086
    ninja -C "$dir" $targets || exit 1
    touch "$dir/.kiln-built"
    exit 0
fi

dir=${1:?usage: run.sh DIR SECONDS [TARGET...]}
seconds=${2:?usage: run.sh DIR SECONDS [TARGET...]}
shift 2
if [ $# -gt 0 ]; then
    TARGETS="$*"
fi
python3 tools/fuzz/make_corpus.py "$dir/seeds" >/dev/null || exit 1
mkdir -p "$dir/artifacts"
# UBSan reports stop the run; leaks are reported by ASan's LeakSanitizer.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
# fuzz_one T: runs target T for SECONDS; its output goes to DIR/fuzz_T.log and its exit
# status to DIR/fuzz_T.rc.
fuzz_one() {
    t=$1
    exe="$dir/fuzz/fuzz_$t"
    mkdir -p "$dir/corpus/$t"
    dict=""
    if [ -f "fuzz/$t.dict" ]; then
        dict="-dict=fuzz/$t.dict"
    fi
    # shellcheck disable=SC2086
    "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" $dict \
        ${KILN_FUZZ_FLAGS:-} "$dir/corpus/$t" "$dir/seeds/$t" >"$dir/fuzz_$t.log" 2>&1
    echo $? >"$dir/fuzz_$t.rc"
}

# report T: the last lines of T's run, its corpus, and the report of a failure.
report() {
    r=$1
    log="$dir/fuzz_$r.log"
    rc=$(cat "$dir/fuzz_$r.rc" 2>/dev/null || echo 1)
    echo "==== fuzz_$r for $seconds s"
    grep -E "^(#[0-9]+.*(DONE|pulse)|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)" "$log" | tail -6
    echo "corpus: $(find "$dir/corpus/$r" -type f | wc -l) files, $(du -sk "$dir/corpus/$r" | cut -f1) KiB"
    if [ "$rc" -ne 0 ]; then
        echo "==== fuzz_$r FAILED (exit status $rc); the report:"
        grep -E -A30 "ERROR|runtime error|deadly signal|Test unit written" "$log" | head -60
        failed="$failed $r"
    fi
}

jobs=${KILN_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
failed=""
batch=""
n=0
for t in $TARGETS; do
    rm -f "$dir/fuzz_$t.rc"
    fuzz_one "$t" &
    batch="$batch $t"
    n=$((n + 1))
    if [ "$n" -ge "$jobs" ]; then
        wait
        for b in $batch; do
            report "$b"
        done
        batch=""
        n=0
    fi
done
wait
for b in $batch; do
    report "$b"
done
if [ -n "$failed" ]; then
    echo "==== failed:$failed"
    exit 1
fi
