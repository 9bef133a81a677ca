import XCTest
@testable import RefTensor

/// The fast GEMM against its definition (`Gemm.naive`) on awkward sizes, every
/// transpose combination, Float and Double, and bit-for-bit across thread counts.
final class GemmTests: XCTestCase {
    static let sizes = [1, 4, 8, 13, 129]     // 4, 8: a half tile row exactly (portable, native Float)

    /// C = A @ B with A given as stored [m, k] or transposed-stored [k, m] (same for B).
    func gemm<T: RefScalar>(_ m: Int, _ n: Int, _ k: Int, transA: Bool, transB: Bool, accumulate: Bool,
                            fast: Bool, seed: UInt64, _: T.Type) -> Tensor<T> {
        let a: Tensor<T> = randomTensor(transA ? [k, m] : [m, k], seed: seed)
        let b: Tensor<T> = randomTensor(transB ? [n, k] : [k, n], seed: seed + 1)
        var c: Tensor<T> = randomTensor([m, n], seed: seed + 2)
        a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in
            c.scalars.withUnsafeMutableBufferPointer { cp in
                let am: StridedMatrix<T> = transA ? .transposed(ap.baseAddress!, columns: m) : .rowMajor(ap.baseAddress!, columns: k)
                let bm: StridedMatrix<T> = transB ? .transposed(bp.baseAddress!, columns: k) : .rowMajor(bp.baseAddress!, columns: n)
                if fast {
                    Gemm.fast(m: m, n: n, k: k, a: am, b: bm, c: cp.baseAddress!, ldc: n, accumulate: accumulate)
                } else {
                    Gemm.naive(m: m, n: n, k: k, a: am, b: bm, c: cp.baseAddress!, ldc: n, accumulate: accumulate)
                }
            }
        } }
        return c
    }

    /// Default build: same products, same order, same roundings, so bit-identical to
    /// the definition. `-D REF_FMA`: fused multiply-adds, so equal within rounding.
    func assertMatchesDefinition<T: RefScalar>(_ fast: Tensor<T>, _ naive: Tensor<T>, _ what: String,
                                               file: StaticString = #filePath, line: UInt = #line) {
        #if REF_FMA
        let tol = kernelTolerance(T.self)
        assertClose(fast, naive, rtol: tol.rtol, atol: tol.atol, what, file: file, line: line)
        #else
        XCTAssertEqual(bits(fast), bits(naive), what, file: file, line: line)
        #endif
    }

    func checkFastMatchesNaive<T: RefScalar>(_ type: T.Type) {
        var seed: UInt64 = 1
        for m in Self.sizes { for n in Self.sizes { for k in Self.sizes {
            let transA = seed % 2 == 0, transB = seed % 3 == 0, accumulate = seed % 5 == 0
            let fast = gemm(m, n, k, transA: transA, transB: transB, accumulate: accumulate, fast: true, seed: seed, T.self)
            let naive = gemm(m, n, k, transA: transA, transB: transB, accumulate: accumulate, fast: false, seed: seed, T.self)
            let what = "\(T.self) m\(m) n\(n) k\(k) tA \(transA) tB \(transB) acc \(accumulate)"
            assertMatchesDefinition(fast, naive, what)
            seed += 1
        } } }
    }

    func testFastMatchesNaiveFloat() { checkFastMatchesNaive(Float.self) }
    func testFastMatchesNaiveDouble() { checkFastMatchesNaive(Double.self) }

    /// Sizes that cross every blocking boundary (mr 6 or 8, nr 16/8, mc 132 or 128, kc 256, and
    /// 512 for k >= 1024 on AVX2 and in the portable build) and
    /// every task shape: B packed once and shared (m > mc), B packed per task (m <= mc),
    /// rows split across workers, columns split across workers (m under two slivers).
    func testFastMatchesNaiveAcrossBlockBoundaries() {
        // n <= 128 reads A unpacked (row-major when m is even here, transposed when odd).
        // (13, 515, 300): a task's own row-major B in several chunks of 16 slivers, and a
        // transposed A of two full slivers and a partial one (mr 6); (150, 259, 100): shared
        // row-major B packed row by row across four slivers; (128, 300, 300): a batch;
        // (130, 40, 3) and (150, 259, 5): so shallow that a B sliver has fewer cache lines
        // than a row block has tiles (the driver prefetches the next sliver a share per tile);
        // (20, 300, 1030) and (200, 150, 1030): deep, in 512-deep blocks and a 6-deep one, B
        // packed per task (column tasks, 8-sliver chunks) and packed once and shared.
        let shapes = [(97, 257, 300), (200, 17, 513), (7, 300, 300), (12, 40, 700), (300, 5, 90), (97, 33, 300), (140, 300, 270),
                      (13, 515, 300), (150, 259, 100), (128, 300, 300), (130, 40, 3), (150, 259, 5),
                      (20, 300, 1030), (200, 150, 1030)]
        for (m, n, k) in shapes { for accumulate in [false, true] {
            let transA = m % 2 == 1, transB = n % 2 == 0
            // The definition once per case (it is most of this test's time in a debug build).
            let naive = gemm(m, n, k, transA: transA, transB: transB, accumulate: accumulate, fast: false, seed: 9, Float.self)
            for threads in [1, 2, 3] {
                let fast = withThreads(threads) {
                    gemm(m, n, k, transA: transA, transB: transB, accumulate: accumulate, fast: true, seed: 9, Float.self)
                }
                assertMatchesDefinition(fast, naive, "m\(m) n\(n) k\(k) threads \(threads) acc \(accumulate)")
            }
        } }
    }

    /// A row-major B exactly one tile row wide (a convolution's dY or W with as many
    /// output channels as the tile row: 16/8 floats native, 8/4 portable, or half that)
    /// is read in place rather than packed: the same bits as the definition, with one
    /// row block or many, on one thread or two.
    func testOneSliverWideBIsReadInPlace() {
        for n in [2, 4, 8, 16] { for (m, k) in [(97, 300), (300, 90)] { for threads in [1, 2] {
            let fast = withThreads(threads) { gemm(m, n, k, transA: false, transB: false, accumulate: n == 8, fast: true, seed: 11, Float.self) }
            let naive = gemm(m, n, k, transA: false, transB: false, accumulate: n == 8, fast: false, seed: 11, Float.self)
            assertMatchesDefinition(fast, naive, "Float m\(m) n\(n) k\(k) threads \(threads)")
            let fastD = withThreads(threads) { gemm(m, n, k, transA: true, transB: false, accumulate: false, fast: true, seed: 12, Double.self) }
            let naiveD = gemm(m, n, k, transA: true, transB: false, accumulate: false, fast: false, seed: 12, Double.self)
            assertMatchesDefinition(fastD, naiveD, "Double m\(m) n\(n) k\(k) threads \(threads)")
        } } }
    }

    /// B packed ahead by `packB` (as Winograd's kernels are) gives the same bits as B
    /// packed by the call itself: every width class (half row, full rows, a partial
    /// sliver), k across a `kc` block, serial or not.
    func testPrepackedBGivesTheSameBits() {
        for (m, n, k) in [(13, 5, 40), (40, 16, 300), (97, 37, 257), (8, 129, 64)] { for serial in [false, true] {
            let a: Tensor<Float> = randomTensor([m, k], seed: 21), b: Tensor<Float> = randomTensor([k, n], seed: 22)
            func run(prepacked: Bool) -> Tensor<Float> {
                var c = Tensor<Float>.zeros([m, n])
                a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in c.scalars.withUnsafeMutableBufferPointer { cp in
                    let bm = StridedMatrix.rowMajor(bp.baseAddress!, columns: n)
                    let packed = prepacked ? Gemm.packB(bm, k: k, n: n) : nil
                    defer { packed?.deallocate() }
                    Gemm.fast(m: m, n: n, k: k, lhs: StridedMatrix.rowMajor(ap.baseAddress!, columns: k), b: bm, c: cp.baseAddress!, ldc: n,
                              accumulate: false, serial: serial, packedB: packed.map { UnsafePointer($0) })
                } } }
                return c
            }
            XCTAssertEqual(bits(run(prepacked: true)), bits(run(prepacked: false)), "m\(m) n\(n) k\(k) serial \(serial)")
        } }
    }

    func testKZeroGivesZeroOrKeepsC() {
        let kept = gemm(5, 6, 0, transA: false, transB: false, accumulate: true, fast: true, seed: 3, Double.self)
        XCTAssertEqual(kept, randomTensor([5, 6], seed: 5, Double.self))
        let zeroed = gemm(5, 6, 0, transA: false, transB: false, accumulate: false, fast: true, seed: 3, Double.self)
        XCTAssertEqual(zeroed, Tensor<Double>.zeros([5, 6]))
    }

    func checkThreadDeterminism<T: RefScalar>(_: T.Type) {
        // Column tasks (n > m), column split of a tiny m, unpacked A (n = 40), row tasks with shared B.
        for (m, n, k) in [(100, 270, 260), (8, 270, 300), (100, 40, 300), (400, 150, 300)] {
            let one = withThreads(1) { gemm(m, n, k, transA: true, transB: true, accumulate: true, fast: true, seed: 4, T.self) }
            for threads in [2, 3, 8] {
                let many = withThreads(threads) { gemm(m, n, k, transA: true, transB: true, accumulate: true, fast: true, seed: 4, T.self) }
                XCTAssertEqual(bits(one), bits(many), "\(T.self) m\(m): 1 thread vs \(threads)")
            }
        }
    }

    func testThreadCountDoesNotChangeBitsFloat() { checkThreadDeterminism(Float.self) }
    func testThreadCountDoesNotChangeBitsDouble() { checkThreadDeterminism(Double.self) }
}
