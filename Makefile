# The fast build for the CPU this runs on, as llm.c's Makefile does with -march=native:
#
#   make            release build for this CPU (its instruction set, fused multiply-add, and
#                   with AVX-512 an 8-row GEMM tile, -DREF_AVX512; 3x3 stride-1 convolutions
#                   as Winograd F(2x2,3x3) unless --conv direct):
#                   .build-native/release/ref-run
#   make portable   release build with no CPU flags (runs on any x86-64 or arm64; its GEMM
#                   is bit-identical to the naive definition): .build/release/ref-run
#   make test       the test suite (portable debug build, what CI runs)
#   make mnist      trains configs/mnist_mlp.py with the fast build into runs/
#   make cuda       the fast build with the CUDA backend (-DCUDA; `--device cuda`):
#                   .build-cuda/release/ref-run. Needs no CUDA at build time; at run time an
#                   NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so.13, e.g.
#                   pip install nvidia-cuda-nvrtc; point NVRTC_LIBRARY at it).
#   make cuda-standin  the CPU emulator's stand-in driver, .build-cuda/libcuda-standin.so:
#                   CUDA_DRIVER_LIBRARY=$(pwd)/.build-cuda/libcuda-standin.so runs the CUDA
#                   path with no GPU (slowly: each CUDA thread is a fiber on this CPU).
#
# Only the Swift toolchain is needed.
NATIVE_FLAGS = -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DREF_FMA
# With AVX-512 (32 vector registers) the GEMM's register tile is 8 rows instead of 6.
ifneq ($(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes),)
NATIVE_FLAGS += -Xswiftc -DREF_AVX512
endif

.PHONY: native portable test mnist cuda cuda-standin native-flags
native:
	swift build -c release --scratch-path .build-native $(NATIVE_FLAGS)

# The flags `make` builds with on this CPU (CI builds its native test suite with them).
native-flags:
	@echo $(NATIVE_FLAGS)

portable:
	swift build -c release

test:
	swift test

mnist: native
	.build-native/release/ref-run --workdir=runs --config=configs/mnist_mlp.py

cuda:
	swift build -c release --scratch-path .build-cuda $(NATIVE_FLAGS) -Xswiftc -DCUDA

cuda-standin:
	mkdir -p .build-cuda
	Tests/CUDAEmulator/build.sh .build-cuda/libcuda-standin.so
