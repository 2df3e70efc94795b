#!/bin/sh
# soak.sh - runs bench/soak/soak (a long training run; host and device memory must stay
# flat) on each backend in turn and prints its rows and verdict.
# Usage: bench/soak/soak.sh [BUILD_DIR [STEPS [EVERY [BACKENDS]]]]
#   defaults: build, 20000, 1000, "cpu opencl vulkan". A backend without a device is
#   reported and skipped. Exits 1 when memory grew or a run failed on any backend.
set -u
build=${1:-build}
steps=${2:-20000}
every=${3:-1000}
backends=${4:-cpu opencl vulkan}
exe=$build/bench/soak/soak
if [ ! -x "$exe" ]; then
    echo "soak.sh: $exe is missing: build with ninja -C $build first" >&2
    exit 1
fi
rc=0
for be in $backends; do
    if ! KILN_BACKEND=$be "$build/tools/kiln" info >/dev/null 2>&1 ||
        KILN_BACKEND=$be "$build/tools/kiln" info 2>/dev/null | grep -q "$be: unavailable"; then
        echo "# $be: no device, skipped"
        continue
    fi
    echo "# ---- $be"
    KILN_BACKEND=$be "$exe" "$steps" "$every" || rc=1
done
exit $rc
