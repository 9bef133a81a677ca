#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds ref-run with the CUDA backend and checks it
# against this reference, in about 5 minutes (most of it the release build):
#
#   1. make cuda (release, -DCUDA);
#   2. ref-run verify --device cuda on every fixture in Fixtures/ (float64 at rtol 1e-9,
#      float32 at the conditioned float32 tolerance): the device's step on each fixture's
#      inputs, verified by the CPU reference;
#   3. one epoch of configs/mnist_mlp.py on the CPU and on the GPU: the same losses and
#      accuracies to float32 rounding;
#   4. ref-run bench step on the CPU and the GPU (MLP [1200,400], ResNet18 nf 16 and 32).
#
# Needs the Swift toolchain, an NVIDIA driver and NVRTC: NVRTC_LIBRARY, or the CUDA
# toolkit's libnvrtc, or .cache/nvrtc (.ci/install-nvrtc; needs network once).
# Exit status: 0 when every fixture passes and the epochs agree; 1 otherwise.
#
#   tools/gpu_check.sh [--skip-build] [--quick]
#
# --quick trains on 640 examples and times one small step: a check of the script itself,
# e.g. without a GPU against the emulator's stand-in driver
# (CUDA_DRIVER_LIBRARY=$PWD/.build-cuda/libcuda-standin.so after make cuda-standin).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
stage() { echo; echo "=== $* ($(( $(date +%s) - started )) s)"; }
status=0

if [ -z "${NVRTC_LIBRARY:-}" ]; then
    for c in .cache/nvrtc/nvidia/cu13/lib/libnvrtc.so.13 /usr/local/cuda/lib64/libnvrtc.so.13 /usr/local/cuda/lib64/libnvrtc.so.12 \
             /usr/local/cuda/lib64/libnvrtc.so; do
        if [ -f "$c" ]; then export NVRTC_LIBRARY="$(cd "$(dirname "$c")" && pwd)/$(basename "$c")"; break; fi
    done
fi
if [ -z "${NVRTC_LIBRARY:-}" ]; then NVRTC_LIBRARY="$(.ci/install-nvrtc)"; export NVRTC_LIBRARY; fi
echo "NVRTC: $NVRTC_LIBRARY"
command -v nvidia-smi > /dev/null && nvidia-smi -L || echo "(no nvidia-smi)"

build=1 quick=0
for arg in "$@"; do
    case "$arg" in
        --skip-build) build=0 ;;
        --quick) quick=1 ;;
        *) echo "usage: tools/gpu_check.sh [--skip-build] [--quick]" >&2; exit 2 ;;
    esac
done
train_args=() benches=("--model MLP --num_neurons 1200,400" "--model ResNet18 --num_filters 16" "--model ResNet18 --num_filters 32")
if [ "$quick" = 1 ]; then
    train_args=(--train_examples 640 --test_examples 640)
    benches=("--model MLP --num_neurons 300,100 --batch 32")
fi
if [ "$build" = 1 ]; then
    stage "build: make cuda"
    make cuda
fi
bin=.build-cuda/release/ref-run

stage "every fixture, replayed on the GPU and verified by the CPU reference"
fixtures=(Fixtures/*/)
if "$bin" verify --device cuda --failures-only "${fixtures[@]}" > /tmp/gpu_check_verify.$$ 2>&1; then
    echo "all pass:"
else
    status=1
    echo "FAILURES:"
fi
grep -E "^fixture|outputs pass|FAIL|error" /tmp/gpu_check_verify.$$ | sed 's/, producer:.*//'
rm -f /tmp/gpu_check_verify.$$

stage "one MNIST epoch on the CPU and on the GPU"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for device in cpu cuda; do
    "$bin" --workdir="$work/$device" --config=configs/mnist_mlp.py --config.num_epochs=1 --device "$device" "${train_args[@]}" \
        > "$work/$device.log" 2>&1 \
        || { echo "training on $device failed:"; tail -5 "$work/$device.log"; status=1; }
    tail -2 "$work/$device.log"
done
python3 - "$work" <<'PY' || status=1
import json, glob, sys
runs = {d: [json.loads(l) for l in open(glob.glob(f"{sys.argv[1]}/{d}/**/metrics.jsonl", recursive=True)[0])] for d in ("cpu", "cuda")}
ok = True
for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
    a, b = runs["cpu"][-1][key], runs["cuda"][-1][key]
    # float32 over 469 steps: rounding differences grow but stay far below a training difference
    close = abs(a - b) <= 2e-3 * max(abs(a), 1e-3) + 1e-3
    ok &= close
    print(f"{key:15s} cpu {a:.6f}  cuda {b:.6f}  {'same to float32 rounding' if close else 'DIFFERENT'}")
print("seconds        cpu %.2f  cuda %.2f" % (runs["cpu"][-1]["seconds"], runs["cuda"][-1]["seconds"]))
sys.exit(0 if ok else 1)
PY

stage "bench step: CPU and GPU"
for args in "${benches[@]}"; do
    for device in cpu cuda; do
        # shellcheck disable=SC2086
        "$bin" bench step $args --steps "$([ "$quick" = 1 ] && echo 2 || echo 5)" --device "$device" || status=1
    done
done

stage "done (status $status)"
exit $status
