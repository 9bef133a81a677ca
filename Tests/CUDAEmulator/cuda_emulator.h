// Runs CUDA C kernels on the CPU, for tests: the kernel files in Sources/RefSAMCUDA/Kernels
// are compiled as C++ with this header in front of them.
//
// A block's threads are fibers (ucontext) run one after another on the calling thread;
// __syncthreads() hands control back to the block's scheduler, which resumes every
// thread up to the next barrier before any passes it. So shared memory is written and
// read exactly as the barriers allow, and a missing barrier shows up as a thread reading
// a tile its neighbours have not written yet. A barrier that not every thread of the
// block reaches (divergence) fails the launch.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef dim3 uint3;

// The executing thread's coordinates, set by the scheduler before it resumes a fiber.
extern thread_local uint3 threadIdx, blockIdx;
extern thread_local dim3 blockDim, gridDim;

extern "C" void emu_syncthreads(void);

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
// One copy per kernel function; blocks run one at a time, so it is the block's memory.
#define __shared__ static thread_local
#define __syncthreads() emu_syncthreads()

using std::exp;
using std::log;
using std::sqrt;
