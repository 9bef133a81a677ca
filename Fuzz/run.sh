#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of every reader of untrusted input, under
# AddressSanitizer: config files and --config. overrides, IDX images and labels, gzip,
# the CIFAR tar, ImageNet arrays, .npy, fixture JSON and msgpack checkpoints.
#
#   Fuzz/run.sh [RUNS] [TARGET ...]      # default: 1000000 runs of every target
#
# Builds the library modules with -sanitize=fuzzer,address into .build-fuzz (ignored),
# links Fuzz/FuzzTargets.swift against them, seeds one corpus per target from the
# repository's real files (and Fuzz/seeds/), then runs each target with RSS capped at
# 1 GB and a 10 s timeout per input. Crashing inputs land in .build-fuzz/artifacts/;
# keep each one as a test in Tests/RefSAMTests/BadInputTests.swift. Prints one summary
# line per target (executions, coverage, crashes) and exits 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
all=(config override idx-images idx-labels gzip cifar-tar npy imagenet fixture msgpack)
targets=("${@:-${all[@]}}")
out=.build-fuzz
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)

echo "building the libraries with -sanitize=fuzzer,address (release)"
mkdir -p "$out"
swift build -c release --scratch-path "$out" --target RefSAMFixtures "${flags[@]}" > "$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
bin="$out/release"
objects=$(find -L "$bin" -name '*.o' \( -path '*/RefTensor.build/*' -o -path '*/RefSAM*.build/*' \))
swiftc -sanitize=fuzzer,address -parse-as-library -O -enable-testing -I "$bin/Modules" -I "$bin" \
    Fuzz/FuzzTargets.swift $objects -o "$out/ref-fuzz" 2> >(grep -v 'Cannot export local symbol' >&2)

seed() {   # seed TARGET FILE...: copies each file (first 64 kB) into the target's corpus
    local dir="$out/corpus/$1"; shift
    mkdir -p "$dir"
    for f in "$@"; do head -c 65536 "$f" > "$dir/$(printf %s "$f" | tr / _).seed"; done
}
rm -rf "$out/corpus"; mkdir -p "$out/corpus" "$out/artifacts"
seed config configs/*.py
mkdir -p "$out/corpus/override"
for o in 'num_neurons=[300, 100]' 'optimizer=sgd' 'rho=0.05' 'data_dir=None' 'model="ResNet18"' 'sparsity=0.5' 'seed=3'; do
    printf '%s' "$o" > "$out/corpus/override/$(printf '%s' "$o" | cksum | cut -d' ' -f1)"
done
mkdir -p "$out/corpus/idx-images" "$out/corpus/idx-labels"
gzip -dc data/mnist/t10k-images-idx3-ubyte.gz | head -c $((16 + 784 * 3)) > "$out/corpus/idx-images/three_images" || true
gzip -dc data/mnist/t10k-labels-idx1-ubyte.gz | head -c 20 > "$out/corpus/idx-labels/twelve_labels" || true
seed gzip data/mnist/t10k-labels-idx1-ubyte.gz Tests/RefSAMTests/Resources/gzip/*.gz
seed cifar-tar Fuzz/seeds/cifar-tar/*
seed npy Tests/RefTensorTests/Resources/npy/*.npy Fixtures/mlp_sgd_f64/step_000/inputs/label.npy
seed imagenet Tests/RefTensorTests/Resources/npy/*.npy
seed fixture $(find Fixtures -name fixture.json | head -20)
seed msgpack Fuzz/seeds/msgpack/*

status=0
summary=()
for t in "${targets[@]}"; do
    log="$out/$t.log"
    echo "fuzzing $t ($runs runs)"
    if FUZZ_TARGET="$t" "$out/ref-fuzz" "$out/corpus/$t" -runs="$runs" -rss_limit_mb=1024 -timeout=10 -max_len=65536 \
        -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 > "$log" 2>&1; then
        result=ok
    else
        result=FAILED; status=1
        grep -E 'ERROR|SUMMARY|Fatal error|==' "$log" | head -5
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || echo 'cov: ?')
    summary+=("$(printf '%-11s %-6s executions %-9s %s' "$t" "$result" "$execs" "$cov")")
done
echo
echo "summary (crashes found: $(ls "$out/artifacts" | wc -l))"
printf '%s\n' "${summary[@]}"
exit $status
