/// The fast GEMM: packing, cache blocking and a register-tiled SIMD micro-kernel
/// (the BLIS/GotoBLAS structure), multithreaded over fixed tiles of C.
///
/// Contract: same result as `Gemm.naive`. Each C element is accumulated over p in
/// increasing order, starting from C (or 0), one multiply and one add per term,
/// so in the default build the result is *bit-identical* to the naive kernel and
/// independent of the thread count (tiles never split the k-sum across threads).
/// With `-D REF_FMA` the micro-kernel fuses multiply and add (one rounding per
/// term): results then differ from the naive kernel by rounding only.
///
/// Data flow (loop order inside one task, outermost first):
///
///     B (k x n)  --pack once, all threads-->  kc x nr slivers, shared   (or per task, see below)
///     for each mc-row block of the task's rows:
///         for each kc-deep block:  pack A block (mc x kc, mr-row slivers; stays in L2)
///             for each nr-column sliver of B (kc x nr; stays in L1):
///                 for each mr-row sliver of A:  micro-kernel on a 6 x nr tile of C
///
/// B is packed once per call. Only when a task has a single row block (no reuse
/// to share) is B packed inside the task, block by block, into L1/L2-sized scratch.
/// When C is narrow (n <= 128: convolutions), A is not packed at all: the
/// micro-kernel reads its rows where they lie (`ASliver`), since each A sliver
/// meets only a few B slivers and packing would cost more than it saves.
extension Gemm {
    /// Rows of the register tile.
    @usableFromInline static let mr = 6
    /// Depth of one packed block (L1/L2 blocking over k).
    @usableFromInline static let kc = 256
    /// Rows of one packed A block (a multiple of `mr`): mc x kc stays in L2.
    @usableFromInline static let mc = 96
    /// C at most this wide reads A unpacked (convolutions: n = output channels).
    @usableFromInline static let directANarrowN = 128
    /// Below this many multiply-adds a GEMM runs on the calling thread: waking
    /// workers would cost more than it saves. (Threads never change results.)
    @usableFromInline static let parallelThreshold = 1 << 18

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
        let grid = TaskGrid(m: m, n: n, k: k, nr: nr)
        let paddedN = (n + nr - 1) / nr * nr
        let kBlocks = (k + kc - 1) / kc

        // B packed once for everyone, unless no task would reuse it.
        let shareB = grid.partsM > 1 || m > mc
        let sharedB: UnsafeMutablePointer<T>? = shareB ? .allocate(capacity: k * paddedN) : nil
        defer { sharedB?.deallocate() }
        if let packed = sharedB {
            // Block pb starts at p0 * paddedN; within it, sliver s (nr columns) at s * kb * nr.
            let slivers = paddedN / nr, groups = (slivers + 3) / 4
            Threads.parallelFor(kBlocks * groups, workers: grid.workers) { task, _ in
                let pb = task / groups, s0 = (task % groups) * 4
                let p0 = pb * kc, kb = min(kc, k - p0), j0 = s0 * nr
                packPanelB(b, p0: p0, j0: j0, depth: kb, cols: min(4 * nr, n - j0), nr: nr,
                           into: packed + p0 * paddedN + s0 * kb * nr)
            }
        }

        // A narrow C (few B slivers) reuses each A sliver too little to repay packing
        // it: the micro-kernel then reads A where it lies (row-major or transposed).
        let directA = n <= directANarrowN && (a.colStride == 1 || a.rowStride == 1)
        let kBlock = min(kc, k)
        let packASize = mc * kBlock
        let packBSize = shareB ? 0 : kBlock * min(paddedN, grid.colsPerPart)
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: grid.workers * (packASize + packBSize))
        defer { scratch.deallocate() }

        Threads.parallelFor(grid.tasks, workers: grid.workers) { task, worker in
            let (rows, cols) = grid.ranges(task: task, m: m, n: n, mr: mr, nr: nr)
            let packA = scratch + worker * (packASize + packBSize)
            let localB = packA + packASize
            var i0 = rows.lowerBound
            while i0 < rows.upperBound {
                let mBlock = min(mc, rows.upperBound - i0)
                var p0 = 0
                while p0 < k {
                    let kb = min(kc, k - p0)
                    let bBlock: UnsafeMutablePointer<T>
                    if let packed = sharedB {
                        bBlock = packed + p0 * paddedN + cols.lowerBound * kb
                    } else {
                        packPanelB(b, p0: p0, j0: cols.lowerBound, depth: kb, cols: cols.count, nr: nr, into: localB)
                        bBlock = localB
                    }
                    // Unpacked A: whole slivers read in place; a last partial one is packed (zero rows).
                    let fullRows = directA ? mBlock / mr * mr : 0
                    if directA {
                        if fullRows < mBlock {
                            packPanelA(a, i0: i0 + fullRows, p0: p0, rows: mBlock - fullRows, depth: kb, into: packA + fullRows * kb)
                        }
                    } else {
                        packPanelA(a, i0: i0, p0: p0, rows: mBlock, depth: kb, into: packA)
                    }
                    let loadC = accumulate || p0 > 0
                    var jr = 0
                    while jr < cols.count {
                        let bSliver = bBlock + jr * kb
                        var ir = 0
                        while ir < mBlock {
                            let cTile = c + (i0 + ir) * ldc + (cols.lowerBound + jr)
                            let sliver = ir < fullRows
                                ? ASliver(a.base + (i0 + ir) * a.rowStride + p0 * a.colStride, rowStride: a.rowStride, step: a.colStride)
                                : ASliver(packA + ir * kb, rowStride: 1, step: mr)
                            microKernelEdge(kc: kb, a: sliver, b: bSliver, c: cTile, ldc: ldc,
                                            rows: min(mr, mBlock - ir), cols: min(nr, cols.count - jr), loadC: loadC)
                            ir += mr
                        }
                        jr += nr
                    }
                    p0 += kb
                }
                i0 += mBlock
            }
        }
    }

    /// How C is cut into tasks: `partsM` row ranges (whole `mr` slivers) times
    /// `partsN` column ranges (whole `nr` slivers), one task per worker. Rows are
    /// split first, so tasks share the packed B and each packs only its own A.
    /// Which tile an element of C falls in never changes how it is computed (its
    /// k-sum runs in the same kc blocks), so the grid may follow the thread count
    /// without changing a bit.
    struct TaskGrid {
        var partsM: Int, partsN: Int, workers: Int
        var slivers: (m: Int, n: Int)
        var colsPerPart: Int

        init(m: Int, n: Int, k: Int, nr: Int) {
            let threads = m * n * k < Gemm.parallelThreshold ? 1 : Threads.count
            slivers = ((m + Gemm.mr - 1) / Gemm.mr, (n + nr - 1) / nr)
            partsM = min(threads, slivers.m)
            partsN = 1
            if partsM < threads { partsN = min(slivers.n, (threads + partsM - 1) / partsM) }
            // A row range of under two slivers wastes the packed B: split columns instead.
            while partsM > 1 && slivers.m / partsM < 2 && partsN * 2 <= slivers.n { partsM = (partsM + 1) / 2; partsN *= 2 }
            workers = max(1, min(threads, partsM * partsN))
            colsPerPart = (slivers.n + partsN - 1) / partsN * nr
        }

        var tasks: Int { partsM * partsN }

        /// Rows and columns of C that `task` computes: near-equal sliver counts.
        func ranges(task: Int, m: Int, n: Int, mr: Int, nr: Int) -> (Range<Int>, Range<Int>) {
            let tm = task / partsN, tn = task % partsN
            let r0 = slivers.m * tm / partsM * mr, r1 = min(m, slivers.m * (tm + 1) / partsM * mr)
            let c0 = slivers.n * tn / partsN * nr, c1 = min(n, slivers.n * (tn + 1) / partsN * nr)
            return (r0..<r1, c0..<c1)
        }
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

    /// Where the micro-kernel reads its mr rows of A: row r, step p at
    /// `base[r * rowStride + p * step]`. Packed: (1, mr); row-major A: (lda, 1);
    /// transposed A: (1, lda).
    @usableFromInline
    struct ASliver<T> {
        @usableFromInline var base: UnsafePointer<T>
        @usableFromInline var rowStride: Int
        @usableFromInline var step: Int
        @inlinable init(_ base: UnsafePointer<T>, rowStride: Int, step: Int) {
            self.base = base; self.rowStride = rowStride; self.step = step
        }
        @inlinable init(_ base: UnsafeMutablePointer<T>, rowStride: Int, step: Int) {
            self.init(UnsafePointer(base), rowStride: rowStride, step: step)
        }
    }

    /// A full or partial register tile: partial tiles go through a small buffer so
    /// the micro-kernel itself never needs bounds (A rows past the end are zero
    /// rows of a packed sliver).
    @inlinable
    static func microKernelEdge<T: RefScalar>(kc: Int, a: ASliver<T>, b: UnsafePointer<T>,
                                              c: UnsafeMutablePointer<T>, ldc: Int,
                                              rows: Int, cols: Int, loadC: Bool) {
        let nr = T.TileRow.scalarCount
        if rows == mr && cols == nr {
            if a.rowStride == 1 && a.step == mr {
                // Packed A: constant strides, so the loads use fixed offsets.
                microKernel(kc: kc, a: ASliver(a.base, rowStride: 1, step: mr), b: b, c: c, ldc: ldc, loadC: loadC)
            } else {
                microKernel(kc: kc, a: a, b: b, c: c, ldc: ldc, loadC: loadC)
            }
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

    /// The register tile: C[0..<6, 0..<nr] (+)= A (6 x kc) * Bpacked (kc x nr),
    /// six `TileRow` accumulators (12 AVX registers), one broadcast per row and term.
    @inlinable @inline(__always)
    static func microKernel<T: RefScalar>(kc: Int, a: ASliver<T>, b: UnsafePointer<T>,
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
        let rs = a.rowStride, step = a.step
        let a0 = a.base, a1 = a0 + rs, a2 = a0 + 2 * rs, a3 = a0 + 3 * rs, a4 = a0 + 4 * rs, a5 = a0 + 5 * rs
        var off = 0
        var bp = UnsafeRawPointer(b)
        let bStep = V.scalarCount * MemoryLayout<T>.stride
        for _ in 0..<kc {
            let bv = bp.loadUnaligned(as: V.self)
            c0 = madd(c0, bv, a0[off])
            c1 = madd(c1, bv, a1[off])
            c2 = madd(c2, bv, a2[off])
            c3 = madd(c3, bv, a3[off])
            c4 = madd(c4, bv, a4[off])
            c5 = madd(c5, bv, a5[off])
            off += step
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
