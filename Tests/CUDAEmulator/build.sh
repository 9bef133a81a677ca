#!/usr/bin/env bash
# Builds the CPU kernel emulator with the stand-in driver API as one shared library:
#   Tests/CUDAEmulator/build.sh OUT.so
# Uses the Swift toolchain's clang (clang++); the tests run this into their temporary
# directory, and `make cuda-standin` into .build/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT.so}"
cxx="${CXX:-clang++}"
"$cxx" -std=c++17 -O1 -fPIC -shared -ffp-contract=off -Wall -Wno-unused-function \
    "$here/emulator.cpp" "$here/standin_driver.cpp" "$here/kernels_f32.cpp" "$here/kernels_f64.cpp" -o "$out"
