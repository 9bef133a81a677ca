#if canImport(Glibc)
/// glibc's `mallopt` (malloc.h is not part of the Glibc module). Parameter numbers
/// from malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// Process-wide allocator settings for long training runs.
public enum Allocator {
    /// Keeps freed tensor memory in the heap instead of returning it to the kernel.
    ///
    /// Why: a training step frees and re-allocates the same few megabyte-sized
    /// buffers every step. With glibc's defaults each such buffer is a fresh mmap
    /// (or heap memory trimmed and grown again), and every page of it faults in
    /// and is zeroed by the kernel again: about 8% of an MLP step. Raising the
    /// mmap threshold to glibc's maximum (32 MiB on 64-bit) and never trimming
    /// lets those buffers be reused. Peak memory is unchanged; resident memory
    /// stays at the peak instead of shrinking between steps.
    ///
    /// Call once, at start-up, before threads exist (the CLI does). A no-op where
    /// the C library is not glibc.
    public static func retainFreedMemory() {
        #if canImport(Glibc)
        _ = glibcMallopt(-3, 32 << 20)     // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, Int32.max)    // M_TRIM_THRESHOLD
        #endif
    }

    /// Bytes of packing memory the fast GEMM keeps between calls now (at most 64 MiB,
    /// `PackingBufferCache`): reused at the same address, its pages stay mapped.
    public static var cachedPackingBytes: Int { PackingBufferCache.shared.cachedBytes }

    /// Frees the packing memory the fast GEMM keeps between calls (for a program that is
    /// done with large products and wants the memory back). The next large product
    /// allocates it again. Safe at any time: buffers in use are not in the cache.
    public static func releaseCachedPackingMemory() { PackingBufferCache.shared.clear() }
}
