#!/bin/sh
# compare.sh - kiln next to its peers on one machine, in one run: SGEMM (kiln on each
# backend, OpenBLAS and CLBlast called directly), convolutions at LeNet and ResNet-20
# shapes (kiln on each backend, PyTorch's CPU conv2d) and training images/s of the MLP,
# LeNet-5 and ResNet-8 at batch 64 and 256 (kiln on each backend, PyTorch on the CPU).
# Builds nothing: it runs the programs of an existing build.
#
#   bench/compare.sh [--quick] [--rounds N] [--backends "cpu opencl vulkan"] [BUILD_DIR]
#
# Every measurement is repeated in N rounds (default 5; --quick: 3 rounds of fewer
# steps and sizes, a few minutes); within a round kiln and its peers take turns on each
# row, so both see the same load. The markdown tables give each figure's median over
# the rounds with its min-max range, and each ratio as the median of the rounds' ratios
# with their range. Both sides run with the same threads and BLAS settings:
# KILN_BENCH_THREADS (default 2) for OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
# torch.set_num_threads; OMP_WAIT_POLICY=passive unless set (with libgomp's default
# busy-waiting PyTorch loses most of its time on a 2-core machine, see README's CPU
# performance notes); OPENBLAS_CORETYPE as the caller set it. PyTorch is Debian's
# python3-torch (/usr/bin/python3); a peer or backend that is missing is left out with
# the reason. The table goes to stdout, progress to stderr; KILN_BENCH_LOG=FILE keeps
# the raw lines.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
quick=0
rounds=
backends="cpu opencl vulkan"
build=
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --backends) backends=$2; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) build=$1 ;;
    esac
    shift
done
build=${build:-"$here/../build"}
build=$(cd "$build" && pwd)
[ -n "$rounds" ] || rounds=$([ "$quick" = 1 ] && echo 3 || echo 5)
data=${KILN_BENCH_DATA:-/usr/share/datasets/fashion-mnist}
for p in bench/bench_train bench/bench_sgemm bench/conv/bench_conv tools/kiln; do
    if [ ! -x "$build/$p" ]; then
        echo "compare.sh: $build/$p not found; build first (meson setup build && ninja -C build)" >&2
        exit 1
    fi
done

threads=${KILN_BENCH_THREADS:-2}
export KILN_BENCH_THREADS=$threads OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$build/cache/pocl}
export KILN_CACHE_DIR=${KILN_CACHE_DIR:-$build/cache/kiln}
unset KILN_CHECK KILN_DEVICE
python=/usr/bin/python3
log=${KILN_BENCH_LOG:-$(mktemp)}
: >"$log"
skips=$(mktemp)
trap 'rm -f "$skips"; [ -n "${KILN_BENCH_LOG:-}" ] || rm -f "$log"' EXIT

say() { echo "compare.sh: $*" >&2; }

# ---- What runs here ----
avail=
for be in $backends; do
    if out=$(KILN_BACKEND=$be "$build/bench/bench_sgemm" kiln --time 0.01 64 2>&1); then
        avail="$avail $be"
    else
        echo "kiln $be: left out: $(echo "$out" | tail -n 1)" >>"$skips"
    fi
done
have_clblast=0
case " $avail " in *" opencl "*)
    if out=$("$build/bench/bench_sgemm" clblast --time 0.01 64 2>&1); then
        have_clblast=1
    else
        echo "CLBlast: left out: $(echo "$out" | tail -n 1)" >>"$skips"
    fi ;;
esac
have_torch=0
if torch_version=$($python -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    have_torch=1
else
    echo "PyTorch: left out: /usr/bin/python3 cannot import torch (apt-get install python3-torch)" >>"$skips"
    torch_version=
fi

# ---- Rows ----
if [ "$quick" = 1 ]; then
    sizes_fast="256 1024 2048"
    sizes_slow="256 1024"
    conv_shapes="lenet-conv1 lenet-conv2 resnet-16@28 resnet-64@7"
    # model batch cpu_steps gpu_steps (0: left out on that side)
    train_rows="mlp 64 100 10
mlp 256 30 4
lenet 64 60 3
lenet 256 20 2
resnet8 64 4 0"
else
    sizes_fast="256 512 1024 2048"
    sizes_slow="256 512 1024 2048"
    conv_shapes="lenet-conv1 lenet-conv2 resnet-16@28 resnet-32@14 resnet-64@7"
    train_rows="mlp 64 400 40
mlp 256 100 10
lenet 64 200 10
lenet 256 50 4
resnet8 64 10 2
resnet8 256 4 1"
fi

# Runs a command and appends "KEY<TAB>ROUND<TAB>VALUE" to the log for each of its output
# lines that the sed expression turns into "KEY VALUE". $1: key prefix, $2: the sed
# expression, then the command.
record() {
    key=$1 expr=$2
    shift 2
    if out=$("$@" 2>&1); then
        echo "$out" | sed -n "$expr" | while read -r k v; do
            printf '%s\t%s\t%s\n' "$key|$k" "$r" "$v" >>"$log"
        done
    else
        say "failed: $* ($(echo "$out" | tail -n 1))"
    fi
}

steps_for() { # backend cpu_steps gpu_steps
    if [ "$1" = cpu ]; then echo "$2"; else echo "$3"; fi
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
r=1
while [ "$r" -le "$rounds" ]; do
    say "round $r of $rounds"
    for be in $avail; do
        sizes=$([ "$be" = cpu ] && echo "$sizes_fast" || echo "$sizes_slow")
        record "sgemm|kiln $be" 's/^sgemm [a-z]* \([0-9]*\): \([0-9.]*\) GFLOP.*/\1 \2/p' \
            env KILN_BACKEND="$be" "$build/bench/bench_sgemm" kiln --time 0.3 $sizes
        if [ "$be" = cpu ]; then
            record "sgemm|OpenBLAS" 's/^sgemm [a-z]* \([0-9]*\): \([0-9.]*\) GFLOP.*/\1 \2/p' \
                "$build/bench/bench_sgemm" openblas --time 0.3 $sizes
        elif [ "$be" = opencl ] && [ "$have_clblast" = 1 ]; then
            record "sgemm|CLBlast" 's/^sgemm [a-z]* \([0-9]*\): \([0-9.]*\) GFLOP.*/\1 \2/p' \
                "$build/bench/bench_sgemm" clblast --time 0.3 $sizes
        fi
    done
    conv_expr='s/^conv \([^ ]*\) \([a-z]*\): \([0-9.]*\) GFLOP.*/\1|\2 \3/p'
    for be in $avail; do
        record "conv|kiln $be" "$conv_expr" \
            env KILN_BACKEND="$be" "$build/bench/conv/bench_conv" --lines 1 $conv_shapes
    done
    if [ "$have_torch" = 1 ]; then
        record "conv|PyTorch" "$conv_expr" $python "$here/torch_conv.py" 1 $conv_shapes
    fi
    echo "$train_rows" | while read -r model batch cpu_steps gpu_steps; do
        train_expr='s/^[a-z]* [a-z]* [a-z0-9]* batch \([0-9]*\): \([0-9.]*\) images.*/\1 \2/p'
        for be in $avail; do
            steps=$(steps_for "$be" "$cpu_steps" "$gpu_steps")
            warm=$([ "$be" = cpu ] && echo 3 || echo 1)
            if [ "$steps" -le 0 ]; then
                [ "$r" -gt 1 ] || echo "kiln $be $model batch $batch: left out (too slow for this mode)" >>"$skips"
                continue
            fi
            record "train|$model|kiln $be" "$train_expr" env KILN_BACKEND="$be" \
                "$build/bench/bench_train" --warmup "$warm" --data "$data" "$model" "$batch" \
                "$steps"
        done
        if [ "$have_torch" = 1 ]; then
            record "train|$model|PyTorch" "$train_expr" $python "$here/torch_train.py" \
                --warmup 3 --data "$data" "$model" "$batch" "$cpu_steps"
        fi
    done
    r=$((r + 1))
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# ---- The tables ----
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
devices=
for be in $avail; do
    dev=$(KILN_BACKEND=$be "$build/tools/kiln" info 2>/dev/null |
        sed -n "/^$be: /,/^[a-z]/s/^  0: \(.*\)/\1/p" | head -n 1)
    devices="$devices${devices:+; }$be: ${dev:-?}"
done
cmd="bench/compare.sh --rounds $rounds"
if [ "$quick" = 1 ]; then
    cmd="bench/compare.sh --quick --rounds $rounds"
fi
KILN_CMP_LOG=$log KILN_CMP_SKIPS=$skips KILN_CMP_ROUNDS=$rounds KILN_CMP_BACKENDS="$avail" \
    KILN_CMP_HEADER="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu_model), load average $load_start at the start and $load_end at the end, $((t_end - t_start)) s; \`$cmd\`; threads $threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; kiln $("$build/tools/kiln" info | sed -n 's/^kiln //p' | head -n 1), PyTorch ${torch_version:-(none)}; devices: $devices" \
    $python - <<'EOF'
import os
import statistics

rounds = int(os.environ["KILN_CMP_ROUNDS"])
backends = os.environ["KILN_CMP_BACKENDS"].split()
vals = {}  # key: {round: value}
with open(os.environ["KILN_CMP_LOG"]) as f:
    for line in f:
        key, rnd, v = line.rstrip("\n").split("\t")
        vals.setdefault(key, {})[rnd] = float(v)


def cell(key, fmt):
    v = list(vals.get(key, {}).values())
    if not v:
        return "-"
    m = statistics.median(v)
    if len(v) == 1:
        return fmt % m
    return (fmt + " (" + fmt + "-" + fmt + ")") % (m, min(v), max(v))


def ratio(num, den):
    a, b = vals.get(num, {}), vals.get(den, {})
    r = [a[k] / b[k] for k in a if k in b and b[k] > 0]
    if not r:
        return "-"
    m = statistics.median(r)
    return "%.2fx" % m if len(r) == 1 else "%.2fx (%.2f-%.2f)" % (m, min(r), max(r))


def keys_of(prefix):
    seen = []
    for k in vals:
        if k.startswith(prefix):
            rest = k[len(prefix):].split("|")[0]
            if rest not in seen:
                seen.append(rest)
    return seen


print("Measured %s." % os.environ["KILN_CMP_HEADER"])
print("Each cell: median over %d interleaved rounds (min-max); ratios: median of the rounds' "
      "ratios (min-max)." % rounds)
print()
print("**SGEMM**, square f32 C = A B, GFLOP/s")
print()
cols = []
for be in backends:
    cols.append(("kiln " + be, "sgemm|kiln %s|%%s" % be))
    if be == "cpu":
        cols.append(("OpenBLAS", "sgemm|OpenBLAS|%s"))
    if be == "opencl" and any(k.startswith("sgemm|CLBlast") for k in vals):
        cols.append(("CLBlast", "sgemm|CLBlast|%s"))
rats = []
if "cpu" in backends:
    rats.append(("kiln cpu / OpenBLAS", "sgemm|kiln cpu|%s", "sgemm|OpenBLAS|%s"))
if "opencl" in backends:
    rats.append(("kiln opencl / CLBlast", "sgemm|kiln opencl|%s", "sgemm|CLBlast|%s"))
sizes = sorted({int(k.split("|")[2]) for k in vals if k.startswith("sgemm|")})
print("| N | " + " | ".join(c[0] for c in cols + rats) + " |")
print("|---" * (1 + len(cols) + len(rats)) + "|")
for n in sizes:
    row = [cell(c[1] % n, "%.1f") for c in cols] + [ratio(r[1] % n, r[2] % n) for r in rats]
    print("| %d | %s |" % (n, " | ".join(row)))
print()
print("**Convolution** at batch 64 (forward, data gradient, filter gradient), GFLOP/s "
      "(2 N K C KH KW OH OW flops per op)")
print()
cols = [("kiln " + be, "conv|kiln %s|%%s" % be) for be in backends]
cols.append(("PyTorch cpu", "conv|PyTorch|%s"))
rats = [("kiln %s / PyTorch" % be, "conv|kiln %s|%%s" % be, "conv|PyTorch|%s") for be in backends]
print("| shape | op | " + " | ".join(c[0] for c in cols + rats) + " |")
print("|---|---" + "|---" * (len(cols) + len(rats)) + "|")
shapes = []
for k in vals:
    if k.startswith("conv|"):
        s = "|".join(k.split("|")[2:4])
        if s not in shapes:
            shapes.append(s)
for s in shapes:
    name, op = s.split("|")
    row = [cell(c[1] % s, "%.2f") for c in cols] + [ratio(r[1] % s, r[2] % s) for r in rats]
    print("| %s | %s | %s |" % (name, op, " | ".join(row)))
print()
print("**Training** throughput, images/s (Fashion-MNIST, SGD with momentum, loss read every "
      "step)")
print()
cols = [("kiln " + be, "train|%%s|kiln %s|%%s" % be) for be in backends]
cols.append(("PyTorch cpu", "train|%s|PyTorch|%s"))
rats = [("kiln %s / PyTorch" % be, "train|%%s|kiln %s|%%s" % be, "train|%s|PyTorch|%s")
        for be in backends]
print("| model | batch | " + " | ".join(c[0] for c in cols + rats) + " |")
print("|---|---" + "|---" * (len(cols) + len(rats)) + "|")
rows = []
for k in vals:
    if k.startswith("train|"):
        parts = k.split("|")
        if (parts[1], parts[3]) not in rows:
            rows.append((parts[1], parts[3]))
for model, batch in rows:
    row = [cell(c[1] % (model, batch), "%.0f") for c in cols]
    row += [ratio(r[1] % (model, batch), r[2] % (model, batch)) for r in rats]
    print("| %s | %s | %s |" % (model, batch, " | ".join(row)))
with open(os.environ["KILN_CMP_SKIPS"]) as f:
    notes = [l.strip() for l in f if l.strip()]
if notes:
    print()
    for n in notes:
        print("- " + n)
EOF
