#!/bin/sh
# test.sh - the full check of kiln on Debian 12: install the dependencies (as root,
# unless KILN_NO_APT=1), build with -Dwerror=true and run every test, rebuild with
# AddressSanitizer and UBSan and run the cpu suite, build the libFuzzer targets with
# clang and run each for a short while, then check the C formatting.
# Build directories: build-test, build-test-asan and build-test-fuzz (recreated).
# Every stage runs even when an earlier one failed; the failures are listed at the end
# and the exit status is 1 when there was any. .ci/run calls this.
#
# KILN_FUZZ_SECONDS: how long each fuzz target runs (default 30; 0 skips the stage).
# KILN_ASAN_TIMEOUT_MULTIPLIER: the sanitizer stage's meson --timeout-multiplier
# (default 3: the instrumented tests run up to about 3 times slower than plain ones).
set -u
cd "$(dirname "$0")/.."
start=$(date +%s)
failed=""
n_failed=0

step() {
    echo "==== $* ($(($(date +%s) - start)) s)"
}

# stage NAME CMD...: runs CMD as one stage; a failure is recorded and the script goes on.
stage() {
    name=$1
    shift
    step "$name"
    t0=$(date +%s)
    "$@"
    rc=$?
    t1=$(date +%s)
    if [ "$rc" -ne 0 ]; then
        echo "==== FAILED: $name (exit status $rc, $((t1 - t0)) s)"
        failed="$failed
  - $name (exit status $rc)"
        n_failed=$((n_failed + 1))
    fi
    return 0
}

# skip NAME WHY: a stage that cannot run because a stage it needs failed; counts as failed.
skip() {
    step "$1"
    echo "==== NOT RUN: $1: $2"
    failed="$failed
  - $1 (not run: $2)"
    n_failed=$((n_failed + 1))
}

setup() { # setup DIR ARGS...
    dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# build DIR ARGS...: setup and ninja; leaves DIR/.kiln-built when both succeeded.
build() {
    dir=$1
    rm -f "$dir/.kiln-built"
    setup "$@" && ninja -C "$dir" && touch "$dir/.kiln-built"
}

stage "dependencies" tools/install_deps.sh

stage "build (-Dwerror=true)" build build-test -Dwerror=true
if [ -f build-test/build.ninja ]; then
    # --no-rebuild: after a failed build, the tests whose programs were built still run.
    stage "tests" meson test -C build-test --no-rebuild --print-errorlogs
else
    skip "tests" "build-test was not configured"
fi

# Warnings are gated by the first build; GCC's instrumentation for the sanitizers adds
# spurious -Wmaybe-uninitialized reports, so this build does not turn them into errors.
stage "build with -Db_sanitize=address,undefined" \
    build build-test-asan -Dwerror=false -Db_sanitize=address,undefined -Db_lundef=false
if [ -f build-test-asan/build.ninja ]; then
    # tools/lsan.supp says why the slow unwinder is needed (a leak inside lavapipe).
    stage "tests (suite cpu) under the sanitizers" env \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-fast_unwind_on_malloc=0}" \
        LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tools/lsan.supp:print_suppressions=0}" \
        meson test -C build-test-asan --no-rebuild --suite cpu --print-errorlogs \
        --timeout-multiplier "${KILN_ASAN_TIMEOUT_MULTIPLIER:-3}"
else
    skip "tests (suite cpu) under the sanitizers" "build-test-asan was not configured"
fi

fuzz_seconds=${KILN_FUZZ_SECONDS:-30}
if [ "$fuzz_seconds" -gt 0 ]; then
    stage "build the fuzz targets (clang, libFuzzer)" tools/fuzz/run.sh --build build-test-fuzz
    if [ -f build-test-fuzz/.kiln-built ]; then
        stage "fuzz each target for $fuzz_seconds s" tools/fuzz/run.sh build-test-fuzz "$fuzz_seconds"
    else
        skip "fuzz each target for $fuzz_seconds s" "the fuzz targets were not built"
    fi
fi

format() {
    clang-format --version &&
        find src include tests examples tools bench opencl fuzz -type f \
            \( -name '*.c' -o -name '*.h' -o -name '*.cl' \) -print0 |
        xargs -0 clang-format --dry-run -Werror
}
stage "clang-format" format

total=$(($(date +%s) - start))
if [ "$n_failed" -gt 0 ]; then
    echo "==== $n_failed stage(s) failed ($total s):$failed"
    exit 1
fi
step "all checks passed"
