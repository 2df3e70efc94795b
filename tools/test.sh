#!/bin/sh
# test.sh - the full check of kiln on Debian 12: install the dependencies (as root,
# unless KILN_NO_APT=1), build with -Dwerror=true and run every test, rebuild with
# AddressSanitizer and UBSan and run the cpu suite, then check the C formatting.
# Build directories: build-test and build-test-asan (recreated). .ci/run calls this.
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
step() {
    echo "==== $* ($(($(date +%s) - start)) s)"
}

step "dependencies"
tools/install_deps.sh

setup() { # setup DIR ARGS...
    dir=$1
    shift
    if [ -d "$dir" ]; then
        meson setup --wipe "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

step "build (-Dwerror=true)"
setup build-test -Dwerror=true
ninja -C build-test
step "tests"
meson test -C build-test --print-errorlogs

step "build with -Db_sanitize=address,undefined"
# Warnings are gated by the first build; GCC's instrumentation for the sanitizers adds
# spurious -Wmaybe-uninitialized reports, so this build does not turn them into errors.
setup build-test-asan -Dwerror=false -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-test-asan
step "tests (suite cpu) under the sanitizers"
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    meson test -C build-test-asan --suite cpu --print-errorlogs

step "clang-format"
clang-format --version
find src include tests examples tools bench opencl -type f \( -name '*.c' -o -name '*.h' -o -name '*.cl' \) -print0 |
    xargs -0 clang-format --dry-run -Werror

step "all checks passed"
