# The fast build for the CPU this runs on, as llm.c's Makefile does with -march=native:
#
#   make            release build for this CPU (its instruction set, fused multiply-add):
#                   .build-native/release/ref-run
#   make portable   release build with no CPU flags (runs on any x86-64 or arm64; its GEMM
#                   is bit-identical to the naive definition): .build/release/ref-run
#   make test       the test suite (portable debug build, what CI runs)
#   make mnist      trains configs/mnist_mlp.py with the fast build into runs/
#
# Only the Swift toolchain is needed.
NATIVE_FLAGS = -Xswiftc -target-cpu -Xswiftc native -Xswiftc -DREF_FMA

.PHONY: native portable test mnist
native:
	swift build -c release --scratch-path .build-native $(NATIVE_FLAGS)

portable:
	swift build -c release

test:
	swift test

mnist: native
	.build-native/release/ref-run --workdir=runs --config=configs/mnist_mlp.py
