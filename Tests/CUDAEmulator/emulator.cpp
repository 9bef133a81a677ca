// The block scheduler behind cuda_emulator.h, and the kernel registry.
#include "cuda_emulator.h"
#include "emulator.h"
#include "registry.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <ucontext.h>
#include <vector>

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;

namespace {

struct Kernel {
    EmuTrampoline run;
    bool usesBarriers = true;   // until a launch shows otherwise (then threads run as plain calls)
};

std::map<std::string, Kernel>& registry() {
    static std::map<std::string, Kernel> r;
    return r;
}

thread_local std::string lastError;
int order = 0;

// Switching between fibers. On x86-64 a six-register switch (the System V callee-saved
// registers and the stack pointer); elsewhere ucontext, whose swapcontext also saves the
// signal mask with a system call per switch (about half the emulator's time on x86-64).
#if defined(__x86_64__)
extern "C" void emu_switch(void** from, void* to);
__asm__(".text\n.globl emu_switch\n.type emu_switch,@function\nemu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n  ret\n"
        ".size emu_switch, .-emu_switch\n");
struct Context { void* sp = nullptr; };
#else
struct Context { ucontext_t uc; };
#endif

// One block's run: each thread a fiber with its own stack.
struct Fiber {
    Context context;
    char* stack = nullptr;   // stackSize bytes, never freed (reused by every launch)
    bool done = false, atBarrier = false;
    uint3 index;
};

const std::size_t stackSize = 64 * 1024;
thread_local Context schedulerContext;
thread_local Fiber* current = nullptr;
thread_local void** currentParams = nullptr;
thread_local EmuTrampoline currentKernel = nullptr;
thread_local bool sawBarrier = false;
thread_local bool barrierOffFiber = false;

void switchTo(Context& from, Context& to) {
#if defined(__x86_64__)
    emu_switch(&from.sp, to.sp);
#else
    swapcontext(&from.uc, &to.uc);
#endif
}

void fiberEntry() {
    currentKernel(currentParams);
    current->done = true;
    switchTo(current->context, schedulerContext);
    __builtin_unreachable();   // a finished fiber is never resumed
}

// A fresh context on the fiber's stack that starts in fiberEntry.
void start(Fiber& f) {
#if defined(__x86_64__)
    // The stack as emu_switch leaves it: six saved registers, then the return address
    // (fiberEntry), aligned as if fiberEntry had been called.
    auto top = (uintptr_t)(f.stack + stackSize) & ~(uintptr_t)15;
    void** sp = (void**)top;
    *--sp = nullptr;                      // fiberEntry's own (never used) return address
    *--sp = (void*)&fiberEntry;
    for (int r = 0; r < 6; ++r) *--sp = nullptr;
    f.context.sp = sp;
#else
    getcontext(&f.context.uc);
    f.context.uc.uc_stack.ss_sp = f.stack;
    f.context.uc.uc_stack.ss_size = stackSize;
    f.context.uc.uc_link = nullptr;
    makecontext(&f.context.uc, fiberEntry, 0);
#endif
}

void resume(Fiber& f) {
    current = &f;
    threadIdx = f.index;
    f.atBarrier = false;
    switchTo(schedulerContext, f.context);
    current = nullptr;
}

// Runs one block on the first n fibers; false (with lastError set) on a divergent barrier.
bool runBlock(std::vector<Fiber>& fibers, std::size_t n, const char* name) {
    for (std::size_t t = 0; t < n; ++t) {
        Fiber& f = fibers[t];
        f.done = false;
        f.atBarrier = false;
        start(f);
    }
    for (;;) {
        for (std::size_t k = 0; k < n; ++k) {
            Fiber& f = fibers[order == 0 ? k : n - 1 - k];
            if (!f.done) resume(f);
        }
        std::size_t waiting = 0, finished = 0;
        for (std::size_t t = 0; t < n; ++t) { if (fibers[t].done) ++finished; else if (fibers[t].atBarrier) ++waiting; }
        if (finished == n) return true;
        if (finished > 0) {
            lastError = std::string(name) + ": __syncthreads() not reached by every thread of block (" +
                        std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " + std::to_string(blockIdx.z) +
                        "): " + std::to_string(waiting) + " threads wait at a barrier, " + std::to_string(finished) +
                        " have returned (divergent barrier)";
            return false;
        }
    }
}

}  // namespace

EmuRegistration::EmuRegistration(const char* name, EmuTrampoline trampoline) {
    registry()[name] = Kernel{trampoline, true};
}

extern "C" void emu_syncthreads(void) {
    sawBarrier = true;
    if (!current) { barrierOffFiber = true; return; }
    current->atBarrier = true;
    switchTo(current->context, schedulerContext);
}

extern "C" int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                          void** params) {
    auto it = registry().find(name);
    if (it == registry().end()) { lastError = std::string("no kernel named ") + name; return 500; }
    unsigned threads = bx * by * bz;
    if (threads == 0 || threads > 1024 || gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535) {
        lastError = std::string(name) + ": invalid launch shape"; return 1;
    }
    Kernel& k = it->second;
    gridDim = dim3(gx, gy, gz);
    blockDim = dim3(bx, by, bz);
    currentParams = params;
    currentKernel = k.run;
    // Fibers only grow in number (their stacks are kept for every later launch); each
    // launch uses the first `threads`, whose coordinates are the same in every block.
    static thread_local std::vector<Fiber> fibers;
    if (k.usesBarriers) {
        if (fibers.size() < threads) fibers.resize(threads);
        unsigned t = 0;
        for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx) {
            if (!fibers[t].stack) fibers[t].stack = new char[stackSize];
            fibers[t++].index = dim3(tx, ty, tz);
        }
    }
    sawBarrier = false;
    barrierOffFiber = false;
    for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x) {
        blockIdx = dim3(x, y, z);
        if (k.usesBarriers) {
            if (!runBlock(fibers, threads, name)) return 719;   // CUDA_ERROR_LAUNCH_FAILED
        } else {
            for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx) {
                threadIdx = dim3(tx, ty, tz);
                k.run(params);
            }
            if (barrierOffFiber) {
                lastError = std::string(name) + ": reached __syncthreads() on a launch after one that never did";
                return 719;
            }
        }
    }
    if (!sawBarrier) k.usesBarriers = false;
    return 0;
}

extern "C" const char* emu_last_error(void) { return lastError.c_str(); }
extern "C" void emu_set_order(int o) { order = o; }
extern "C" int emu_kernel_count(void) { return (int)registry().size(); }
extern "C" const char* emu_kernel_name(int i) {
    auto it = registry().begin();
    std::advance(it, i);
    return it->first.c_str();
}
