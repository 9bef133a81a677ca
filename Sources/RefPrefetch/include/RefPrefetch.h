// Cache prefetch for the GEMM driver. Swift has no prefetch of its own; this header
// is imported by RefTensor, and the compiler inlines the function into its callers,
// where it becomes one prefetch instruction (x86-64 `prefetcht0`, AArch64 `prfm`).
// A prefetch never faults and never changes a value: results are unaffected.
#ifndef REF_PREFETCH_H
#define REF_PREFETCH_H

/// Ask for the cache line holding `address` to be brought into L1, for writing.
static inline __attribute__((always_inline)) void ref_prefetch_for_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Ask for the cache line holding `address` to be brought into L2 (not L1), for reading.
static inline __attribute__((always_inline)) void ref_prefetch_to_l2(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

#endif
