/// The fast GEMM: packing, cache blocking and a register-tiled SIMD micro-kernel
/// (the BLIS/GotoBLAS structure), multithreaded over fixed tiles of C.
///
/// Contract: same result as `Gemm.naive`. Each C element is accumulated over p in
/// increasing order, starting from C (or 0), one multiply and one add per term,
/// so in the default build the result is *bit-identical* to the naive kernel and
/// independent of the thread count (tiles never split the k-sum across threads).
/// With `-D REF_FMA` the micro-kernel fuses multiply and add (one rounding per
/// term): results then differ from the naive kernel by rounding only.
extension Gemm {
    /// Rows of the register tile.
    @usableFromInline static let mr = 6
    /// Depth of one packed block (L1/L2 blocking over k).
    @usableFromInline static let kc = 256
    /// Rows of C per task (a multiple of `mr`).
    @usableFromInline static let mc = 96
    /// Columns of C per task (a multiple of every `TileRow` width).
    @usableFromInline static let nc = 256

    /// C = (accumulate ? C : 0) + A @ B. See `naive` for the definition.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func fast<T: RefScalar>(
        m: Int, n: Int, k: Int,
        a: StridedMatrix<T>, b: StridedMatrix<T>,
        c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let nr = T.TileRow.scalarCount
        let (tileM, tileN) = taskTiles(m: m, n: n, nr: nr)
        let tilesM = (m + tileM - 1) / tileM, tilesN = (n + tileN - 1) / tileN
        let tasks = tilesM * tilesN
        let workers = Threads.workers(for: tasks)
        let kBlock = min(kc, k)
        let packASize = tileM * kBlock, packBSize = kBlock * ((min(tileN, n) + nr - 1) / nr * nr)
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: workers * (packASize + packBSize))
        defer { scratch.deallocate() }

        Threads.parallelFor(tasks) { task, worker in
            let i0 = (task / tilesN) * tileM, j0 = (task % tilesN) * tileN
            let mBlock = min(tileM, m - i0), nBlock = min(tileN, n - j0)
            let packA = scratch + worker * (packASize + packBSize)
            let packB = packA + packASize
            var p0 = 0
            while p0 < k {
                let kb = min(kc, k - p0)
                packPanelA(a, i0: i0, p0: p0, rows: mBlock, depth: kb, into: packA)
                packPanelB(b, p0: p0, j0: j0, depth: kb, cols: nBlock, nr: nr, into: packB)
                let loadC = accumulate || p0 > 0
                var jr = 0
                while jr < nBlock {
                    let bSliver = packB + jr * kb
                    var ir = 0
                    while ir < mBlock {
                        let cTile = c + (i0 + ir) * ldc + (j0 + jr)
                        microKernelEdge(kc: kb, a: packA + ir * kb, b: bSliver, c: cTile, ldc: ldc,
                                        rows: min(mr, mBlock - ir), cols: min(nr, nBlock - jr), loadC: loadC)
                        ir += mr
                    }
                    jr += nr
                }
                p0 += kb
            }
        }
    }

    /// The task grid: at most mc x nc, cut into near-equal tiles (multiples of the
    /// register tile) so that every worker gets about the same work. Which tile an
    /// element of C falls in never changes how it is computed (its k-sum runs in the
    /// same kc blocks), so the grid may follow the thread count without changing a bit.
    static func taskTiles(m: Int, n: Int, nr: Int) -> (Int, Int) {
        func roundUp(_ x: Int, _ q: Int) -> Int { (x + q - 1) / q * q }
        var partsM = (m + mc - 1) / mc, partsN = (n + nc - 1) / nc
        let threads = Threads.count
        // Enough tasks for balance (2 per worker) while tiles stay at least 2 register tiles wide.
        while threads > 1 && partsM * partsN < 2 * threads {
            let rowsLeft = m / (partsM + 1) >= 2 * mr, colsLeft = n / (partsN + 1) >= 2 * nr
            if colsLeft && (n / partsN >= m / partsM || !rowsLeft) { partsN += 1 } else if rowsLeft { partsM += 1 } else { break }
        }
        return (roundUp((m + partsM - 1) / partsM, mr), roundUp((n + partsN - 1) / partsN, nr))
    }

    /// Packs A[i0..<i0+rows, p0..<p0+depth] into slivers of `mr` rows: sliver s holds,
    /// for each p, the mr values A[i0 + s*mr + r, p] (zero past the last row).
    /// The loops follow A's layout so that reads are contiguous.
    @inlinable
    static func packPanelA<T: RefScalar>(_ a: StridedMatrix<T>, i0: Int, p0: Int, rows: Int, depth: Int,
                                         into dst: UnsafeMutablePointer<T>) {
        var out = dst
        var r0 = 0
        while r0 < rows {
            let live = min(mr, rows - r0)
            let origin = a.base + (i0 + r0) * a.rowStride + p0 * a.colStride
            if a.colStride == 1 {
                // Row-major A (x, im2col): read each row contiguously; the sliver stays in L1.
                for r in 0..<live {
                    let src = origin + r * a.rowStride
                    for p in 0..<depth { out[p * mr + r] = src[p] }
                }
            } else if a.rowStride == 1 && live == mr {
                // Transposed row-major A (x^T, im2col^T): mr contiguous values per step.
                var src = origin
                for p in 0..<depth { for r in 0..<mr { out[p * mr + r] = src[r] }; src += a.colStride }
            } else {
                for p in 0..<depth { for r in 0..<live { out[p * mr + r] = origin[r * a.rowStride + p * a.colStride] } }
            }
            if live < mr { for p in 0..<depth { for r in live..<mr { out[p * mr + r] = 0 } } }
            out += mr * depth
            r0 += mr
        }
    }

    /// Packs B[p0..<p0+depth, j0..<j0+cols] into slivers of `nr` columns: sliver s
    /// holds, for each p, the nr values B[p, j0 + s*nr + c] (zero past the last column).
    /// The loops follow B's layout so that reads are contiguous.
    @inlinable
    static func packPanelB<T: RefScalar>(_ b: StridedMatrix<T>, p0: Int, j0: Int, depth: Int, cols: Int, nr: Int,
                                         into dst: UnsafeMutablePointer<T>) {
        var out = dst
        var c0 = 0
        while c0 < cols {
            let live = min(nr, cols - c0)
            let origin = b.base + p0 * b.rowStride + (j0 + c0) * b.colStride
            if b.colStride == 1 && live == nr {
                // Row-major B, full sliver: one vector per row.
                for p in 0..<depth {
                    let row = UnsafeRawPointer(origin + p * b.rowStride).loadUnaligned(as: T.TileRow.self)
                    UnsafeMutableRawPointer(out + p * nr).storeBytes(of: row, as: T.TileRow.self)
                }
            } else if b.colStride == 1 {
                // Row-major B, last partial sliver: short rows (a loop beats a memmove call).
                for p in 0..<depth { for c in 0..<live { out[p * nr + c] = origin[p * b.rowStride + c] } }
            } else if b.rowStride == 1 {
                // Transposed row-major B (W^T): read each column contiguously.
                for c in 0..<live {
                    let src = origin + c * b.colStride
                    for p in 0..<depth { out[p * nr + c] = src[p] }
                }
            } else {
                for p in 0..<depth { for c in 0..<live { out[p * nr + c] = origin[p * b.rowStride + c * b.colStride] } }
            }
            if live < nr { for p in 0..<depth { for c in live..<nr { out[p * nr + c] = 0 } } }
            out += nr * depth
            c0 += nr
        }
    }

    /// A full or partial register tile: partial tiles go through a small buffer so
    /// the micro-kernel itself never needs bounds.
    @inlinable
    static func microKernelEdge<T: RefScalar>(kc: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                              c: UnsafeMutablePointer<T>, ldc: Int,
                                              rows: Int, cols: Int, loadC: Bool) {
        let nr = T.TileRow.scalarCount
        if rows == mr && cols == nr {
            microKernel(kc: kc, a: a, b: b, c: c, ldc: ldc, loadC: loadC)
            return
        }
        withUnsafeTemporaryAllocation(of: T.self, capacity: mr * nr) { tmp in
            let t = tmp.baseAddress!
            t.update(repeating: 0, count: mr * nr)
            if loadC { for r in 0..<rows { for j in 0..<cols { t[r * nr + j] = c[r * ldc + j] } } }
            microKernel(kc: kc, a: a, b: b, c: t, ldc: nr, loadC: loadC)
            for r in 0..<rows { for j in 0..<cols { c[r * ldc + j] = t[r * nr + j] } }
        }
    }

    /// The register tile: C[0..<6, 0..<nr] (+)= Apacked (kc x 6) * Bpacked (kc x nr),
    /// six `TileRow` accumulators (12 AVX registers), one broadcast per row and term.
    @inlinable @inline(__always)
    static func microKernel<T: RefScalar>(kc: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
                                          c: UnsafeMutablePointer<T>, ldc: Int, loadC: Bool) {
        typealias V = T.TileRow
        let cr = UnsafeMutableRawPointer(c)
        let rowBytes = ldc * MemoryLayout<T>.stride
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        if loadC {
            c0 = cr.loadUnaligned(as: V.self)
            c1 = cr.loadUnaligned(fromByteOffset: rowBytes, as: V.self)
            c2 = cr.loadUnaligned(fromByteOffset: 2 * rowBytes, as: V.self)
            c3 = cr.loadUnaligned(fromByteOffset: 3 * rowBytes, as: V.self)
            c4 = cr.loadUnaligned(fromByteOffset: 4 * rowBytes, as: V.self)
            c5 = cr.loadUnaligned(fromByteOffset: 5 * rowBytes, as: V.self)
        }
        var ap = a
        var bp = UnsafeRawPointer(b)
        let bStep = V.scalarCount * MemoryLayout<T>.stride
        for _ in 0..<kc {
            let bv = bp.loadUnaligned(as: V.self)
            c0 = madd(c0, bv, ap[0])
            c1 = madd(c1, bv, ap[1])
            c2 = madd(c2, bv, ap[2])
            c3 = madd(c3, bv, ap[3])
            c4 = madd(c4, bv, ap[4])
            c5 = madd(c5, bv, ap[5])
            ap += 6
            bp += bStep
        }
        cr.storeBytes(of: c0, as: V.self)
        cr.storeBytes(of: c1, toByteOffset: rowBytes, as: V.self)
        cr.storeBytes(of: c2, toByteOffset: 2 * rowBytes, as: V.self)
        cr.storeBytes(of: c3, toByteOffset: 3 * rowBytes, as: V.self)
        cr.storeBytes(of: c4, toByteOffset: 4 * rowBytes, as: V.self)
        cr.storeBytes(of: c5, toByteOffset: 5 * rowBytes, as: V.self)
    }
}

/// acc + v * s. Separate multiply and add in the default build: on baseline x86-64
/// `SIMD.addingProduct` lowers to one libm `fmaf` call per lane. `-D REF_FMA` (use
/// with a CPU that has FMA) fuses them.
@inlinable @inline(__always)
func madd<V: SIMD>(_ acc: V, _ v: V, _ s: V.Scalar) -> V where V.Scalar: FloatingPoint {
    #if REF_FMA
    return acc.addingProduct(v, s)
    #else
    return acc + v * s
    #endif
}
