import RefPrefetch

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
///                 for each mr-row sliver of A:  micro-kernel on an mr x nr tile of C
///
/// Ahead of each micro-kernel the driver prefetches the next tile's C rows and a share
/// of the next B sliver (`RefPrefetch`); prefetches change no value.
///
/// B is packed once per call, into memory kept between calls (`PackingBufferCache`).
/// Only when a task has a single row block (no reuse to share) is B packed inside
/// the task, 16 slivers at a time (8 in `deepKc`-deep blocks) into L2-sized scratch.
/// A B that is one row-major sliver wide (n = nr) already has the packed layout and
/// is read where it lies.
/// When C is narrow (n <= 128: convolutions), A is not packed at all: the
/// micro-kernel reads its rows where they lie (`ASliver`), since each A sliver
/// meets only a few B slivers and packing would cost more than it saves.
public enum Gemm {
    #if REF_AVX512
    /// Rows of the register tile: 8 x nr (8 of AVX-512's 32 vector registers hold the
    /// accumulators; m = 128, a batch, is 16 whole slivers).
    @usableFromInline static let mr = 8
    /// Rows of one packed A block (a multiple of `mr`): mc x kc stays in L2, and a
    /// batch of 128 is one block.
    @usableFromInline static let mc = 128
    #else
    /// Rows of the register tile: 6 x nr (12 of AVX2's 16 registers hold the accumulators).
    @usableFromInline static let mr = 6
    /// Rows of one packed A block (a multiple of `mr`): mc x kc stays in L2, and a
    /// batch of 128 is one block.
    @usableFromInline static let mc = 132
    #endif
    /// Depth of one packed block (L1/L2 blocking over k).
    @usableFromInline static let kc = 256
    /// The block depth of deep products that pack B themselves (k >= `deepK`; a B packed
    /// ahead by `packB` keeps `kc`). C is loaded and stored half as often and the driver
    /// runs half as many tiles. Measured on 2 AVX2 cores at 1024³, interleaved with
    /// OpenBLAS: 512 read 0.965 and 0.991 of it against 0.936 and 0.936 for 256 on one
    /// thread, 0.981 against 0.962 on two (10-call medians). Shallower products did not
    /// gain (MLP and ResNet steps within noise either way), so they keep 256. Where a
    /// k-sum is cut into blocks never changes a result (C is stored and reloaded exactly).
    #if REF_AVX512
    @usableFromInline static let deepKc = kc    // 512 is measured on AVX2 only
    #else
    @usableFromInline static let deepKc = 512
    #endif
    @usableFromInline static let deepK = 1024
    /// C at most this wide reads A unpacked (convolutions: n = output channels).
    @usableFromInline static let directANarrowN = 128
    /// Below this many multiply-adds a GEMM runs on the calling thread: waking
    /// workers would cost more than it saves. (Threads never change results.)
    @usableFromInline static let parallelThreshold = 1 << 18
    /// Fewest rows of C in a task cut by rows. Measured on 2 AVX2 cores (1024³, 6 rounds of
    /// interleaved processes, ratio to OpenBLAS): tasks of 16 slivers (96 rows, 10 tasks)
    /// 0.89, 29 slivers 0.91, 43 (256 rows, 4 tasks) 0.96, 86 (2 tasks) 0.98; at 2048³
    /// 256-row tasks were 6% faster than 96-row ones. Large m still gets 8 tasks per thread.
    @usableFromInline static let minTaskRows = 256
    /// Slivers of B a task packs together when it packs its own (16 x 16 floats x kc:
    /// 256 KiB, in L2; half as many at `deepKc`).
    @usableFromInline static let localBChunk = 16

    /// C = (accumulate ? C : 0) + A @ B. See `naive` for the definition.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func fast<T: RefScalar>(
        m: Int, n: Int, k: Int,
        a: StridedMatrix<T>, b: StridedMatrix<T>,
        c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool
    ) {
        fast(m: m, n: n, k: k, lhs: a, b: b, c: c, ldc: ldc, accumulate: accumulate)
    }

    /// The same with any A operand (`GatherMatrix`: implicit im2col). `serial`: on the
    /// calling thread only (for a caller that already runs in parallel tasks).
    @_specialize(where A == StridedMatrix<Float>)
    @_specialize(where A == StridedMatrix<Double>)
    @_specialize(where A == GatherMatrix<Float>)
    @_specialize(where A == GatherMatrix<Double>)
    static func fast<A: GemmLHS>(
        m: Int, n: Int, k: Int,
        lhs a: A, b: StridedMatrix<A.Scalar>,
        c: UnsafeMutablePointer<A.Scalar>, ldc: Int, accumulate: Bool, serial: Bool = false,
        packedB: UnsafePointer<A.Scalar>? = nil
    ) {
        typealias T = A.Scalar
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // A C no wider than half a tile row (8 output channels) takes half-width rows,
        // rather than computing a full row and throwing half of it away.
        if n <= T.HalfRow.scalarCount {
            fast(T.HalfRow.self, m: m, n: n, k: k, lhs: a, b: b, c: c, ldc: ldc, accumulate: accumulate, serial: serial, packedB: packedB)
        } else {
            fast(T.TileRow.self, m: m, n: n, k: k, lhs: a, b: b, c: c, ldc: ldc, accumulate: accumulate, serial: serial, packedB: packedB)
        }
    }

    /// The blocked loops with tile rows of type `V` (nr = its width).
    static func fast<A: GemmLHS, V: SIMD>(
        _: V.Type, m: Int, n: Int, k: Int,
        lhs a: A, b: StridedMatrix<A.Scalar>,
        c: UnsafeMutablePointer<A.Scalar>, ldc: Int, accumulate: Bool, serial: Bool,
        packedB: UnsafePointer<A.Scalar>?
    ) where V.Scalar == A.Scalar {
        typealias T = A.Scalar
        let nr = V.scalarCount
        let kc = packedB == nil && k >= deepK ? deepKc : Gemm.kc
        let grid = TaskGrid(m: m, n: n, k: k, nr: nr, serial: serial)
        let paddedN = (n + nr - 1) / nr * nr
        let kBlocks = (k + kc - 1) / kc

        // B exactly one full sliver wide and row-major with rows nr apart is already in
        // packed layout (a conv's dY or W with nr output channels): it is read in place.
        let bInPlace = packedB == nil && n == nr && b.colStride == 1 && b.rowStride == nr
        // B packed once for everyone, unless no task would reuse it (or the caller packed it).
        let shareB = packedB != nil || !bInPlace && (grid.partsM > 1 || m > mc)
        let ownBBuffer = shareB && packedB == nil ? takePackingBuffer(T.self, count: k * paddedN) : nil
        defer { givePackingBuffer(ownBBuffer?.0) }
        let ownB = ownBBuffer?.1
        let sharedB: UnsafePointer<T>? = packedB ?? ownB.map { UnsafePointer($0) }
        if let packed = ownB {
            // Block pb starts at p0 * paddedN; within it, sliver s (nr columns) at s * kb * nr.
            let slivers = paddedN / nr, groups = (slivers + 3) / 4
            Threads.parallelFor(kBlocks * groups, workers: grid.workers) { task, _ in
                let pb = task / groups, s0 = (task % groups) * 4
                let p0 = pb * kc, kb = min(kc, k - p0), j0 = s0 * nr
                packPanelB(b, V.self, p0: p0, j0: j0, depth: kb, cols: min(4 * nr, n - j0),
                           into: packed + p0 * paddedN + s0 * kb * nr)
            }
        }

        // A narrow C (few B slivers) reuses each A sliver too little to repay packing
        // it: the micro-kernel then reads A where it lies (row-major or transposed).
        let directA = n <= directANarrowN && a.readsInPlace
        // Cut by columns, A is one row block that every task would pack again in full
        // (8 times over in the MLP's forward GEMMs): it is packed once and shared.
        let paddedM = (m + mr - 1) / mr * mr
        let sharedABuffer = !directA && grid.partsM == 1 && grid.partsN > 1 && m <= mc
            ? takePackingBuffer(T.self, count: paddedM * k) : nil
        defer { givePackingBuffer(sharedABuffer?.0) }
        let sharedA = sharedABuffer?.1
        if let packed = sharedA {
            // Block pb (kb deep) starts at p0 * paddedM, in the layout `packPanel` writes.
            Threads.parallelFor(kBlocks, workers: grid.workers) { pb, _ in
                let p0 = pb * kc
                a.packPanel(i0: 0, p0: p0, rows: m, depth: min(kc, k - p0), into: packed + p0 * paddedM)
            }
        }
        let kBlock = min(kc, k)
        let packASize = sharedA == nil ? mc * kBlock : 0
        // A task's own B goes through scratch a chunk of slivers at a time (see below).
        let chunkSlivers = min(localBChunk * Gemm.kc / kc, (n + nr - 1) / nr)
        let packBSize = shareB || bInPlace ? 0 : kBlock * nr * chunkSlivers
        let (scratchBuffer, scratch) = takePackingBuffer(T.self, count: grid.workers * (packASize + packBSize))
        defer { givePackingBuffer(scratchBuffer) }

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
                    // Unpacked A: whole slivers read in place; a last partial one is packed (zero rows).
                    let fullRows = directA ? mBlock / mr * mr : 0
                    var aBlock = packA
                    if directA {
                        if fullRows < mBlock {
                            a.packPanel(i0: i0 + fullRows, p0: p0, rows: mBlock - fullRows, depth: kb, into: packA + fullRows * kb)
                        }
                    } else if let packed = sharedA {
                        aBlock = packed + p0 * paddedM
                    } else {
                        a.packPanel(i0: i0, p0: p0, rows: mBlock, depth: kb, into: packA)
                    }
                    let loadC = accumulate || p0 > 0
                    var jr = 0, chunkStart = 0, chunkEnd = 0
                    while jr < cols.count {
                        // A task's own B is packed a chunk of slivers at a time, just before
                        // their use, so the copy stays in L2 (the task has one row block: no
                        // later reuse); a chunk reads B's rows in runs of up to 1 KiB.
                        if !(bInPlace || shareB) && jr == chunkEnd {
                            chunkStart = jr
                            chunkEnd = min(cols.count, jr + chunkSlivers * nr)
                            packPanelB(b, V.self, p0: p0, j0: cols.lowerBound + jr, depth: kb, cols: chunkEnd - jr, into: localB)
                        }
                        let bSliver: UnsafePointer<T>
                        if bInPlace {
                            bSliver = b.base + p0 * nr
                        } else if let packed = sharedB {
                            bSliver = packed + (p0 * paddedN + (cols.lowerBound + jr) * kb)
                        } else {
                            bSliver = UnsafePointer(localB + (jr - chunkStart) * kb)
                        }
                        // The next B sliver (the next kb * nr values of a packed panel)
                        // comes into L2 a share per tile while this one is in use: the panel
                        // is larger than L2, so it would otherwise arrive from L3 on demand.
                        // (A task's own B holds only its current chunk: nothing to fetch past it.)
                        let packedUpTo = shareB ? cols.count : chunkEnd
                        let nextB = !bInPlace && jr + nr < packedUpTo ? UnsafeRawPointer(bSliver + kb * nr) : nil
                        let bLines = kb * nr * MemoryLayout<T>.stride / 64, tiles = (mBlock + mr - 1) / mr
                        let linesPerTile = (bLines + tiles - 1) / tiles
                        var bLine = 0
                        var ir = 0
                        while ir < mBlock {
                            if let next = nextB {
                                let end = min(bLines, bLine + linesPerTile)
                                while bLine < end { ref_prefetch_to_l2(next + bLine &* 64); bLine &+= 1 }
                            }
                            let cTile = c + (i0 + ir) * ldc + (cols.lowerBound + jr)
                            // The next tile's C rows are requested now, a whole micro-kernel
                            // ahead: loaded only when that kernel starts, they stalled its
                            // first multiply-adds on a miss (C was last touched a k-block ago).
                            prefetchTile(ir + mr < mBlock ? cTile + mr * ldc : c + i0 * ldc + (cols.lowerBound + jr + nr),
                                         ldc: ldc, width: nr)
                            let sliver = ir < fullRows ? a.sliver(i0: i0 + ir, p0: p0) : ASliver(aBlock + ir * kb, rowStride: 1, step: mr)
                            microKernelEdge(V.self, kc: kb, a: sliver, b: bSliver, c: cTile, ldc: ldc,
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

    /// Prefetches the `mr` rows of a C tile `width` wide (both ends of each row, which
    /// may straddle two cache lines). Addresses past C are harmless: prefetches never fault.
    @inline(__always)
    static func prefetchTile<T>(_ c: UnsafeMutablePointer<T>, ldc: Int, width: Int) {
        var row = UnsafeRawPointer(c)
        let rowBytes = ldc &* MemoryLayout<T>.stride, last = (width &- 1) &* MemoryLayout<T>.stride
        for _ in 0..<mr {
            ref_prefetch_for_write(row)
            ref_prefetch_for_write(row + last)
            row += rowBytes
        }
    }

    /// Memory for packed operands, on a 64-byte (cache line) boundary: malloc's 16-byte
    /// alignment would leave every other 32-byte load of a packed B sliver straddling
    /// two 32-byte halves, and one in four two cache lines. Free it with `deallocate()`.
    static func allocatePacked<T>(_ count: Int) -> UnsafeMutablePointer<T> {
        allocatePackedBytes(max(1, count) * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: max(1, count))
    }

    /// `allocatePacked`'s raw memory: `byteCount` bytes on a 64-byte boundary.
    static func allocatePackedBytes(_ byteCount: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    /// B packed as `fast` packs it (k-blocks of `kc`, slivers of the tile row `fast`
    /// picks for this n), for callers that reuse one B across many calls (`packedB:`);
    /// a fresh buffer the caller deallocates.
    static func packB<T: RefScalar>(_ b: StridedMatrix<T>, k: Int, n: Int) -> UnsafeMutablePointer<T> {
        n <= T.HalfRow.scalarCount ? packB(b, T.HalfRow.self, k: k, n: n) : packB(b, T.TileRow.self, k: k, n: n)
    }

    static func packB<T: RefScalar, V: SIMD>(_ b: StridedMatrix<T>, _: V.Type, k: Int, n: Int) -> UnsafeMutablePointer<T>
    where V.Scalar == T {
        let nr = V.scalarCount, paddedN = (n + nr - 1) / nr * nr
        let packed: UnsafeMutablePointer<T> = allocatePacked(max(1, k * paddedN))
        var p0 = 0
        while p0 < k {
            let kb = min(kc, k - p0)
            packPanelB(b, V.self, p0: p0, j0: 0, depth: kb, cols: n, into: packed + p0 * paddedN)
            p0 += kb
        }
        return packed
    }

    /// How C is cut into tasks: `partsM` row ranges (whole `mr` slivers) times
    /// `partsN` column ranges (whole `nr` slivers). Free workers take the next task,
    /// so several tasks per worker keep them all busy on a noisy machine; but each
    /// task re-reads one operand, which bounds how small tasks may be:
    /// - rows (the usual cut): tasks share the packed B and read all of it, so each
    ///   takes at least `minTaskRows` rows to repay that;
    /// - columns, when B is the larger operand and A is one block (MLP layers at
    ///   batch 128): each task packs its own part of B; A is packed once for all.
    /// Which tile an element of C falls in never changes how it is computed (its
    /// k-sum runs in the same kc blocks), so the grid may follow the thread count
    /// without changing a bit.
    struct TaskGrid {
        var partsM: Int, partsN: Int, workers: Int
        var slivers: (m: Int, n: Int)

        init(m: Int, n: Int, k: Int, nr: Int, serial: Bool = false) {
            let threads = serial || m * n * k < Gemm.parallelThreshold ? 1 : Threads.count
            slivers = ((m + Gemm.mr - 1) / Gemm.mr, (n + nr - 1) / nr)
            partsM = 1
            partsN = 1
            // A multiple of the thread count, so that equal tasks leave nobody idle at the end.
            func whole(_ parts: Int) -> Int { (parts + threads - 1) / threads * threads }
            if threads > 1 {
                if n > m && m <= Gemm.mc && slivers.n >= 2 * threads {
                    partsN = min(slivers.n, whole(max(threads, min(slivers.n / 16, 4 * threads))))
                } else {
                    let minSlivers = (Gemm.minTaskRows + Gemm.mr - 1) / Gemm.mr
                    partsM = min(slivers.m, whole(max(threads, min(slivers.m / minSlivers, 8 * threads))))
                    if partsM < threads { partsN = min(slivers.n, (threads + partsM - 1) / partsM) }
                }
            }
            workers = max(1, min(threads, partsM * partsN))
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
}
