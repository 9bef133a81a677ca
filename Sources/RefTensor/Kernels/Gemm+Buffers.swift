import Foundation

/// One block of packing memory from `PackingBufferCache`: 64-byte aligned, `capacity` bytes.
struct PackingBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    func bind<T>(to _: T.Type) -> UnsafeMutablePointer<T> {
        base.bindMemory(to: T.self, capacity: capacity / MemoryLayout<T>.stride)
    }
}

/// Packing memory the fast GEMM keeps between calls, as OpenBLAS keeps its buffer.
///
/// Why: every call needs megabytes of packing memory (a shared packed B is 4 MiB at
/// 1024³). Allocated afresh, malloc often hands back memory at a new address (the heap
/// around it has moved), and every page of it faults in and is zeroed by the kernel
/// again: measured at 1024³ on two AVX2 cores, such a call faulted ~1,030 times and
/// took 13.7 ms instead of 12.5, and in some processes four of the first five calls did.
/// Buffers kept here are reused at the same address, their pages already mapped.
///
/// Contract: `take(bytes:)` returns memory of at least `bytes` bytes, 64-byte aligned,
/// that nobody else holds until it is given back with `give(_:)`. Contents are
/// unspecified (callers write before they read). Safe from any thread; two holders
/// never share a buffer. At most `retainedBytes` stay cached; the smallest go first.
/// Buffers are kept only from `minimumBytes` up: malloc serves smaller ones well.
///
/// The lock is an `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`:
/// ThreadSanitizer intercepts pthread locking, but not the futex atomics inside the
/// precompiled `Mutex`, so it reported the guarded accesses from two threads as a
/// race (3 of 6 TSan runs of PackingBufferCacheTests; 0 of 8 with `NSLock`).
final class PackingBufferCache: @unchecked Sendable {
    static let shared = PackingBufferCache()

    /// Smallest buffer worth keeping (below it malloc reuses memory itself).
    static let minimumBytes = 64 << 10
    let retainedBytes: Int
    private let lock = NSLock()
    private var list: [PackingBuffer] = []  // guarded by `lock`

    init(retainedBytes: Int = 64 << 20) { self.retainedBytes = retainedBytes }

    /// The smallest cached buffer that holds `bytes`, or a new one.
    func take(bytes: Int) -> PackingBuffer {
        let bytes = max(1, bytes)
        if bytes >= Self.minimumBytes, let hit = lock.withLock({ () -> PackingBuffer? in
            let fits = list.indices.filter { list[$0].capacity >= bytes }
            return fits.min { list[$0].capacity < list[$1].capacity }.map { list.remove(at: $0) }
        }) {
            return hit
        }
        return PackingBuffer(base: Gemm.allocatePackedBytes(bytes), capacity: bytes)
    }

    /// Takes `buffer` back: cached if large enough, the smallest cached ones freed
    /// while more than `retainedBytes` are kept.
    func give(_ buffer: PackingBuffer) {
        guard buffer.capacity >= Self.minimumBytes, buffer.capacity <= retainedBytes else { buffer.base.deallocate(); return }
        let evicted: [PackingBuffer] = lock.withLock {
            list.append(buffer)
            var total = list.reduce(0) { $0 + $1.capacity }
            var out: [PackingBuffer] = []
            while total > retainedBytes, let i = list.indices.min(by: { list[$0].capacity < list[$1].capacity }) {
                total -= list[i].capacity
                out.append(list.remove(at: i))
            }
            return out
        }
        for b in evicted { b.base.deallocate() }
    }

    /// Bytes held in the cache now (for tests and diagnostics).
    var cachedBytes: Int { lock.withLock { list.reduce(0) { $0 + $1.capacity } } }

    /// Frees every cached buffer.
    func clear() {
        let all = lock.withLock { () -> [PackingBuffer] in defer { list.removeAll() }; return list }
        for b in all { b.base.deallocate() }
    }
}

extension Gemm {
    /// Packing memory for `count` values of `T` from `PackingBufferCache.shared`
    /// (64-byte aligned, contents unspecified); give it back with `givePackingBuffer`.
    static func takePackingBuffer<T>(_: T.Type, count: Int) -> (PackingBuffer, UnsafeMutablePointer<T>) {
        let buffer = PackingBufferCache.shared.take(bytes: count * MemoryLayout<T>.stride)
        return (buffer, buffer.bind(to: T.self))
    }

    static func givePackingBuffer(_ buffer: PackingBuffer?) {
        if let buffer { PackingBufferCache.shared.give(buffer) }
    }
}
