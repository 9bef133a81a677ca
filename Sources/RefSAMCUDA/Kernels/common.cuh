// Shared by every kernel file. Each file is compiled once per element type:
//   REAL = float  (names end in _f32)   or   REAL = double (names end in _f64).
// The CUDA backend compiles these files with NVRTC; the CPU emulator used by the tests
// (Tests/CUDAEmulator) compiles the same text as C++ and supplies its own KERNEL,
// threadIdx, __shared__ and __syncthreads.
//
// Rules every kernel keeps, so a step is bit-identical from run to run:
//   - no atomics: every sum has one fixed order (a thread's own loop, then a fixed tree);
//   - grid-stride loops, so any grid size computes the same values;
//   - sums that the CPU reference takes in double (BatchNorm, norms, column sums) are
//     taken in double here too.
#ifndef REAL
#define REAL float
#define SUFFIX f32
#endif
typedef REAL real;

#ifndef KERNEL
#define KERNEL_CAT2(a, b) a##_##b
#define KERNEL_CAT(a, b) KERNEL_CAT2(a, b)
#define KERNEL(name) extern "C" __global__ void KERNEL_CAT(name, SUFFIX)
#endif

// Threads per block of every reduction kernel (a power of two: the tree halves it).
#define REDUCE_THREADS 256

// Index of this thread in the whole grid, and the grid's size, for grid-stride loops.
#define GRID_INDEX ((long)blockIdx.x * blockDim.x + threadIdx.x)
#define GRID_STRIDE ((long)gridDim.x * blockDim.x)

// Sums `value` over the block's REDUCE_THREADS threads in a fixed tree; thread 0 gets it.
__device__ __forceinline__ double block_sum(double value, double* scratch) {
    scratch[threadIdx.x] = value;
    __syncthreads();
    for (int half = REDUCE_THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) scratch[threadIdx.x] += scratch[threadIdx.x + half];
        __syncthreads();
    }
    return scratch[0];
}
