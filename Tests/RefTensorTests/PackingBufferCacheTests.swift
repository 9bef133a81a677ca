import XCTest
@testable import RefTensor

/// The GEMM's packing memory kept between calls: reuse, best fit, the retention
/// limit, no sharing between holders, and a GEMM that never reads what a buffer held.
final class PackingBufferCacheTests: XCTestCase {
    let mib = 1 << 20

    func testTheSameSizeGetsTheSameMemoryBack() {
        let cache = PackingBufferCache()
        defer { cache.clear() }
        let first = cache.take(bytes: mib)
        XCTAssertEqual(Int(bitPattern: first.base) % 64, 0, "64-byte aligned")
        XCTAssertGreaterThanOrEqual(first.capacity, mib)
        cache.give(first)
        XCTAssertEqual(cache.cachedBytes, first.capacity)
        let again = cache.take(bytes: mib)
        XCTAssertEqual(again.base, first.base, "a cached buffer is reused")
        XCTAssertEqual(cache.cachedBytes, 0, "a taken buffer leaves the cache")
        cache.give(again)
    }

    func testTheSmallestBufferThatFitsIsTaken() {
        let cache = PackingBufferCache()
        defer { cache.clear() }
        let small = cache.take(bytes: mib), large = cache.take(bytes: 4 * mib)
        cache.give(large); cache.give(small)
        let forHalf = cache.take(bytes: mib / 2)
        XCTAssertEqual(forHalf.base, small.base, "512 KiB fits the 1 MiB buffer best")
        let forTwo = cache.take(bytes: 2 * mib)
        XCTAssertEqual(forTwo.base, large.base, "2 MiB fits only the 4 MiB buffer")
        let forEight = cache.take(bytes: 8 * mib)
        XCTAssertNotEqual(forEight.base, large.base, "nothing cached fits 8 MiB: a new buffer")
        XCTAssertGreaterThanOrEqual(forEight.capacity, 8 * mib)
        for b in [forHalf, forTwo, forEight] { cache.give(b) }
    }

    func testSmallBuffersAreNotKept() {
        let cache = PackingBufferCache()
        defer { cache.clear() }
        cache.give(cache.take(bytes: PackingBufferCache.minimumBytes - 1))
        XCTAssertEqual(cache.cachedBytes, 0)
        cache.give(cache.take(bytes: PackingBufferCache.minimumBytes))
        XCTAssertEqual(cache.cachedBytes, PackingBufferCache.minimumBytes)
    }

    func testAtMostTheLimitIsKeptAndTheSmallestGoFirst() {
        let cache = PackingBufferCache(retainedBytes: 3 * mib)
        defer { cache.clear() }
        let held = [1, 2, 1].map { cache.take(bytes: $0 * mib) }
        for b in held { cache.give(b) }
        XCTAssertEqual(cache.cachedBytes, 3 * mib, "4 MiB given, 3 kept: one 1 MiB buffer freed")
        let larger = cache.take(bytes: 2 * mib)
        XCTAssertEqual(larger.base, held[1].base, "the larger one stayed")
        cache.give(larger)
        cache.give(cache.take(bytes: 4 * mib))
        XCTAssertEqual(cache.cachedBytes, 3 * mib, "a buffer over the limit is freed, not kept")
    }

    /// Tasks on every worker take, fill, check and give back buffers at once: a buffer
    /// handed to two holders would show another task's values (and a race under TSan).
    func testConcurrentHoldersNeverShareABuffer() {
        let cache = PackingBufferCache(retainedBytes: 4 * mib)
        defer { cache.clear() }
        let count = 64 << 10 / MemoryLayout<Int>.stride * 2
        var clashes = [Int](repeating: 0, count: 256)
        clashes.withUnsafeMutableBufferPointer { clash in
            let out = clash.baseAddress!
            withThreads(3) {
                Threads.parallelFor(256) { task, _ in
                    let buffer = cache.take(bytes: (task % 3 + 1) * count * MemoryLayout<Int>.stride)
                    let p = buffer.bind(to: Int.self)
                    for round in 0..<4 {
                        for i in 0..<count { p[i] = task &* 1000 &+ round }
                        for i in 0..<count where p[i] != task &* 1000 &+ round { out[task] += 1 }
                    }
                    cache.give(buffer)
                }
            }
        }
        XCTAssertEqual(clashes.reduce(0, +), 0, "values written by another holder")
        XCTAssertLessThanOrEqual(cache.cachedBytes, 4 * mib)
    }

    /// The public view: a large product leaves its packing memory cached; releasing it
    /// empties the cache, and the next product still gives the definition's bits.
    func testAllocatorReportsAndReleasesTheCache() {
        let a: Tensor<Float> = randomTensor([300, 300], seed: 41), b: Tensor<Float> = randomTensor([300, 300], seed: 42)
        let first = withThreads(2) { product(a, b, fast: true) }
        // B packed for all (300 x 304 floats, 365 KB) is over the 64 KiB floor: it stays.
        XCTAssertGreaterThanOrEqual(Allocator.cachedPackingBytes, 300 * 304 * 4)
        Allocator.releaseCachedPackingMemory()
        XCTAssertEqual(Allocator.cachedPackingBytes, 0)
        let again = withThreads(2) { product(a, b, fast: true) }
        XCTAssertEqual(bits(first), bits(again), "same bits after the cache was released")
        #if !REF_FMA
        XCTAssertEqual(bits(first), bits(product(a, b, fast: false)))
        #endif
    }

    /// Buffers come back with whatever their last holder wrote. Filled with NaN, they must
    /// leave the GEMM's result unchanged: every shape class (B packed and shared, A
    /// packed once for column tasks, a task's own B in scratch, per-task A, 512-deep
    /// blocks) reads only what it packed.
    func testGemmNeverReadsStaleBufferContents() {
        let shared = PackingBufferCache.shared
        shared.clear()
        defer { shared.clear() }
        for (m, n, k) in [(300, 300, 300), (128, 600, 300), (13, 515, 300), (97, 257, 513), (20, 300, 1030)] {
            // NaN-filled buffers of every size from 64 KiB up, so each request gets one.
            var size = PackingBufferCache.minimumBytes
            var stale: [PackingBuffer] = []
            while size <= 16 * mib {
                let b = shared.take(bytes: size)
                b.bind(to: Float.self).update(repeating: .nan, count: size / 4)
                stale.append(b)
                size *= 2
            }
            for b in stale { shared.give(b) }
            let a: Tensor<Float> = randomTensor([m, k], seed: 31), b: Tensor<Float> = randomTensor([k, n], seed: 32)
            let fast = withThreads(2) { product(a, b, fast: true) }, naive = product(a, b, fast: false)
            XCTAssertFalse(fast.scalars.contains { $0.isNaN }, "m\(m) n\(n) k\(k): stale NaN reached C")
            #if REF_FMA
            let tol = kernelTolerance(Float.self)
            assertClose(fast, naive, rtol: tol.rtol, atol: tol.atol, "m\(m) n\(n) k\(k)")
            #else
            XCTAssertEqual(bits(fast), bits(naive), "m\(m) n\(n) k\(k)")
            #endif
        }
    }

    /// A @ B (row-major [m, k] and [k, n]) by the fast GEMM on the current thread count,
    /// or by its definition.
    func product(_ a: Tensor<Float>, _ b: Tensor<Float>, fast: Bool) -> Tensor<Float> {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        var c = Tensor<Float>.zeros([m, n])
        a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in c.scalars.withUnsafeMutableBufferPointer { cp in
            let am = StridedMatrix.rowMajor(ap.baseAddress!, columns: k), bm = StridedMatrix.rowMajor(bp.baseAddress!, columns: n)
            if fast { Gemm.fast(m: m, n: n, k: k, a: am, b: bm, c: cp.baseAddress!, ldc: n, accumulate: false) }
            else { Gemm.naive(m: m, n: n, k: k, a: am, b: bm, c: cp.baseAddress!, ldc: n, accumulate: false) }
        } } }
        return c
    }
}
