/// The A operand of the fast GEMM: something it can pack into `mr`-row slivers,
/// or read in place a sliver at a time.
@usableFromInline protocol GemmLHS {
    associatedtype Scalar: RefScalar
    /// Packs A[i0..<i0+rows, p0..<p0+depth] into slivers of `Gemm.mr` rows: sliver s
    /// holds, for each p, the mr values A[i0 + s*mr + r, p] (zero past the last row).
    func packPanel(i0: Int, p0: Int, rows: Int, depth: Int, into dst: UnsafeMutablePointer<Scalar>)
    /// Whether whole slivers can be read where they lie (`sliver`).
    var readsInPlace: Bool { get }
    /// Rows i0..<i0+mr from term p0 on, read in place.
    func sliver(i0: Int, p0: Int) -> Gemm.ASliver<Scalar>
}

extension GemmLHS {
    /// The frame every `packPanel` shares: walks the `mr`-row slivers of a panel of
    /// `rows` rows, lets `fill(firstRow, liveRows, sliver)` write the live rows of
    /// each, and zeroes the rows past the end.
    @inlinable
    func forEachSliver(rows: Int, depth: Int, into dst: UnsafeMutablePointer<Scalar>,
                       _ fill: (_ r0: Int, _ live: Int, _ out: UnsafeMutablePointer<Scalar>) -> Void) {
        let mr = Gemm.mr
        var out = dst
        var r0 = 0
        while r0 < rows {
            let live = min(mr, rows - r0)
            fill(r0, live, out)
            if live < mr { for p in 0..<depth { for r in live..<mr { out[p * mr + r] = 0 } } }
            out += mr * depth
            r0 += mr
        }
    }
}

extension StridedMatrix: GemmLHS where T: RefScalar {
    @usableFromInline typealias Scalar = T

    /// The loops follow A's layout so that reads are contiguous.
    @inlinable
    func packPanel(i0: Int, p0: Int, rows: Int, depth: Int, into dst: UnsafeMutablePointer<T>) {
        let mr = Gemm.mr, full = rows / mr
        if rowStride == 1 && colStride != 1 && full > 0 {
            // Transposed row-major A (x^T): term p of all full slivers is one contiguous
            // run of storage, read across the slivers at once. Sliver by sliver, every
            // term would be a read a whole stored row apart (a page apart for wide x).
            let sliverSize = depth * mr
            for p in 0..<depth {
                let src = base + i0 + (p0 + p) * colStride
                let out = dst + p * mr
                for s in 0..<full { for r in 0..<mr { out[s &* sliverSize &+ r] = src[s &* mr &+ r] } }
            }
            if full * mr < rows {
                packPanel(i0: i0 + full * mr, p0: p0, rows: rows - full * mr, depth: depth, into: dst + full * sliverSize)
            }
            return
        }
        forEachSliver(rows: rows, depth: depth, into: dst) { r0, live, out in
            let mr = Gemm.mr
            let origin = base + (i0 + r0) * rowStride + p0 * colStride
            if colStride == 1 {
                // Row-major A (x, im2col): each row read contiguously; the sliver stays in L1.
                Gemm.interleave(origin, lines: live, lineStride: rowStride, depth: depth, outStride: mr, into: out)
            } else {
                for p in 0..<depth { for r in 0..<live { out[p * mr + r] = origin[r * rowStride + p * colStride] } }
            }
        }
    }

    /// Row-major (step 1) or transposed (row stride 1) storage reads in place.
    @inlinable var readsInPlace: Bool { colStride == 1 || rowStride == 1 }

    @inlinable
    func sliver(i0: Int, p0: Int) -> Gemm.ASliver<T> {
        Gemm.ASliver(base + i0 * rowStride + p0 * colStride, rowStride: rowStride, step: colStride)
    }
}

/// A matrix read through two offset tables: A[i, p] = base[rowOffsets[i] + colOffsets[p]].
///
/// This is im2col without the copy. With `base` the zero-padded input image and
///     pixel offsets  q -> ((n * Hp + oh * sh) * Wp + ow * sw) * C
///     patch offsets  p -> (kh * Wp + kw) * C + c
/// rows = pixels, columns = patch entries is the convolution's im2col matrix
/// (forward: Y = A W); rows = patch entries, columns = pixels is its transpose
/// (filter gradient: dW = A dY).
@usableFromInline struct GatherMatrix<T: RefScalar>: GemmLHS {
    @usableFromInline var base: UnsafePointer<T>
    @usableFromInline var rowOffsets: UnsafePointer<Int>
    @usableFromInline var colOffsets: UnsafePointer<Int>

    @inlinable init(_ base: UnsafePointer<T>, rowOffsets: UnsafePointer<Int>, colOffsets: UnsafePointer<Int>) {
        self.base = base; self.rowOffsets = rowOffsets; self.colOffsets = colOffsets
    }

    @inlinable
    func packPanel(i0: Int, p0: Int, rows: Int, depth: Int, into dst: UnsafeMutablePointer<T>) {
        forEachSliver(rows: rows, depth: depth, into: dst) { r0, live, out in
            for r in 0..<live {
                let row = base + rowOffsets[i0 + r0 + r]
                for p in 0..<depth { out[p * Gemm.mr + r] = row[colOffsets[p0 + p]] }
            }
        }
    }

    @inlinable var readsInPlace: Bool { true }

    @inlinable
    func sliver(i0: Int, p0: Int) -> Gemm.ASliver<T> {
        Gemm.ASliver(base, rowOffsets: rowOffsets + i0, offsets: colOffsets + p0)
    }
}

extension Gemm {
    /// Packs B[p0..<p0+depth, j0..<j0+cols] into slivers of nr columns (nr = `V`'s
    /// width, the micro-kernel's row): sliver s holds, for each p, the nr values
    /// B[p, j0 + s*nr + c] (zero past the last column). The loops follow B's layout so
    /// that reads are contiguous.
    @inlinable
    static func packPanelB<T: RefScalar, V: SIMD>(_ b: StridedMatrix<T>, _: V.Type, p0: Int, j0: Int, depth: Int, cols: Int,
                                                  into dst: UnsafeMutablePointer<T>) where V.Scalar == T {
        let nr = V.scalarCount
        var out = dst
        var c0 = 0
        let full = cols / nr
        if b.colStride == 1 && full > 0 {
            // Row-major B, full slivers: row p of all of them is one contiguous run of
            // storage, read across the slivers at once. Sliver by sliver, each row would
            // be a read a whole stored row apart (a page apart for a wide W).
            let sliverSize = depth * nr
            for p in 0..<depth {
                let src = UnsafeRawPointer(b.base + (p0 + p) * b.rowStride + j0)
                let row = UnsafeMutableRawPointer(out + p * nr)
                for s in 0..<full {
                    let v = src.loadUnaligned(fromByteOffset: s &* nr &* MemoryLayout<T>.stride, as: V.self)
                    row.storeBytes(of: v, toByteOffset: s &* sliverSize &* MemoryLayout<T>.stride, as: V.self)
                }
            }
            out += full * sliverSize
            c0 = full * nr
        }
        while c0 < cols {
            let live = min(nr, cols - c0)
            let origin = b.base + p0 * b.rowStride + (j0 + c0) * b.colStride
            if b.colStride == 1 {
                // Row-major B, the last, partial sliver (the full ones are done above):
                // short rows (a loop beats a memmove call).
                for p in 0..<depth { for c in 0..<live { out[p * nr + c] = origin[p * b.rowStride + c] } }
            } else if b.rowStride == 1 {
                // Transposed row-major B (W^T): each column read contiguously.
                interleave(origin, lines: live, lineStride: b.colStride, depth: depth, outStride: nr, into: out)
            } else {
                for p in 0..<depth { for c in 0..<live { out[p * nr + c] = origin[p * b.rowStride + c * b.colStride] } }
            }
            if live < nr { for p in 0..<depth { for c in live..<nr { out[p * nr + c] = 0 } } }
            out += nr * depth
            c0 += nr
        }
    }
}

extension Gemm {
    /// out[p * outStride + l] = src[l * lineStride + p] for `lines` runs of `depth` values:
    /// a packed sliver from rows of A or columns of transposed B, each run read eight
    /// terms at a time (one vector load) where it has eight left.
    @inlinable
    static func interleave<T: RefScalar>(_ src: UnsafePointer<T>, lines: Int, lineStride: Int, depth: Int, outStride: Int,
                                         into out: UnsafeMutablePointer<T>) {
        var p = 0
        while p &+ 8 <= depth {
            for l in 0..<lines {
                let v = UnsafeRawPointer(src + (l &* lineStride &+ p)).loadUnaligned(as: SIMD8<T>.self)
                for q in 0..<8 { out[(p &+ q) &* outStride &+ l] = v[q] }
            }
            p &+= 8
        }
        for l in 0..<lines { for q in p..<depth { out[q &* outStride &+ l] = src[l &* lineStride &+ q] } }
    }
}
