/// The register tile of the fast GEMM and the view of A it reads.
extension Gemm {
    /// Where the micro-kernel reads its `mr` rows of A: row r, term p at
    ///
    ///     affine:  rows[r][p * step]       packed (rows[r] = base + r, step mr),
    ///                                      row-major A (step 1), transposed A (step lda)
    ///     gather:  rows[r][offsets[p]]     implicit im2col (see `GatherMatrix`)
    @usableFromInline struct ASliver<T> {
        @usableFromInline var r0, r1, r2, r3, r4, r5: UnsafePointer<T>
        #if REF_AVX512
        @usableFromInline var r6, r7: UnsafePointer<T>
        #endif
        @usableFromInline var step: Int
        @usableFromInline var offsets: UnsafePointer<Int>?

        /// Rows `base + r * rowStride`, terms `step` apart.
        @inlinable init(_ base: UnsafePointer<T>, rowStride rs: Int, step: Int) {
            r0 = base; r1 = base + rs; r2 = base + 2 * rs; r3 = base + 3 * rs; r4 = base + 4 * rs; r5 = base + 5 * rs
            #if REF_AVX512
            r6 = base + 6 * rs; r7 = base + 7 * rs
            #endif
            self.step = step
            offsets = nil
        }
        @inlinable init(_ base: UnsafeMutablePointer<T>, rowStride: Int, step: Int) {
            self.init(UnsafePointer(base), rowStride: rowStride, step: step)
        }
        /// The sliver's last row (row mr - 1).
        @inlinable var lastRow: UnsafePointer<T> {
            #if REF_AVX512
            r7
            #else
            r5
            #endif
        }
        /// Row r at `base + rowOffsets[r]`, term p at `offsets[p]` from it.
        @inlinable init(_ base: UnsafePointer<T>, rowOffsets o: UnsafePointer<Int>, offsets: UnsafePointer<Int>) {
            r0 = base + o[0]; r1 = base + o[1]; r2 = base + o[2]; r3 = base + o[3]; r4 = base + o[4]; r5 = base + o[5]
            #if REF_AVX512
            r6 = base + o[6]; r7 = base + o[7]
            #endif
            step = 0
            self.offsets = offsets
        }
    }

    /// A full or partial register tile: partial tiles go through a small buffer so
    /// the micro-kernel itself never needs bounds (A rows past the end are zero
    /// rows of a packed sliver).
    /// `V` is the row vector: `T.TileRow`, or `T.HalfRow` for a narrow C; nr = its width.
    @inlinable
    static func microKernelEdge<T: RefScalar, V: SIMD>(_: V.Type, kc: Int, a: ASliver<T>, b: UnsafePointer<T>,
                                                       c: UnsafeMutablePointer<T>, ldc: Int,
                                                       rows: Int, cols: Int, loadC: Bool) where V.Scalar == T {
        let nr = V.scalarCount
        if rows == mr && cols == nr {
            if let offsets = a.offsets {
                microKernel(V.self, kc: kc, a: a, offsets: offsets, b: b, c: c, ldc: ldc, loadC: loadC)
            } else if a.step == mr && a.r1 == a.r0 + 1 && a.lastRow == a.r0 + (mr - 1) {
                // Packed A: constant strides, so the loads use fixed offsets.
                microKernel(V.self, kc: kc, a: ASliver(a.r0, rowStride: 1, step: mr), b: b, c: c, ldc: ldc, loadC: loadC)
            } else {
                microKernel(V.self, kc: kc, a: a, b: b, c: c, ldc: ldc, loadC: loadC)
            }
            return
        }
        withUnsafeTemporaryAllocation(of: T.self, capacity: mr * nr) { tmp in
            let t = tmp.baseAddress!
            t.update(repeating: 0, count: mr * nr)
            if loadC { for r in 0..<rows { for j in 0..<cols { t[r &* nr &+ j] = c[r &* ldc &+ j] } } }
            if let offsets = a.offsets {
                microKernel(V.self, kc: kc, a: a, offsets: offsets, b: b, c: t, ldc: nr, loadC: loadC)
            } else {
                microKernel(V.self, kc: kc, a: a, b: b, c: t, ldc: nr, loadC: loadC)
            }
            for r in 0..<rows { for j in 0..<cols { c[r &* ldc &+ j] = t[r &* nr &+ j] } }
        }
    }

    /// The register tile: C[0..<mr, 0..<nr] (+)= A (mr x kc) * Bpacked (kc x nr),
    /// mr `V` accumulators (12 AVX2 or 8 AVX-512 registers for a `TileRow`), one broadcast per row
    /// and term. Affine A: term p of row r at `a.r<r>[p * a.step]`.
    @inlinable @inline(__always)
    static func microKernel<T: RefScalar, V: SIMD>(_: V.Type, kc: Int, a: ASliver<T>, b: UnsafePointer<T>,
                                                   c: UnsafeMutablePointer<T>, ldc: Int, loadC: Bool) where V.Scalar == T {
        var tile = Tile<V>(c: c, ldc: ldc, load: loadC)
        var off = 0
        var bp = UnsafeRawPointer(b)
        for _ in 0..<kc {
            #if REF_AVX512
            tile.update(bp.loadUnaligned(as: V.self), a.r0[off], a.r1[off], a.r2[off], a.r3[off], a.r4[off], a.r5[off], a.r6[off], a.r7[off])
            #else
            tile.update(bp.loadUnaligned(as: V.self), a.r0[off], a.r1[off], a.r2[off], a.r3[off], a.r4[off], a.r5[off])
            #endif
            off &+= a.step
            bp += MemoryLayout<V>.stride
        }
        tile.store(c: c, ldc: ldc)
    }

    /// The same tile with gathered A: term p of row r at `a.r<r>[offsets[p]]`.
    @inlinable @inline(__always)
    static func microKernel<T: RefScalar, V: SIMD>(_: V.Type, kc: Int, a: ASliver<T>, offsets: UnsafePointer<Int>, b: UnsafePointer<T>,
                                                   c: UnsafeMutablePointer<T>, ldc: Int, loadC: Bool) where V.Scalar == T {
        var tile = Tile<V>(c: c, ldc: ldc, load: loadC)
        var bp = UnsafeRawPointer(b)
        for p in 0..<kc {
            let off = offsets[p]
            #if REF_AVX512
            tile.update(bp.loadUnaligned(as: V.self), a.r0[off], a.r1[off], a.r2[off], a.r3[off], a.r4[off], a.r5[off], a.r6[off], a.r7[off])
            #else
            tile.update(bp.loadUnaligned(as: V.self), a.r0[off], a.r1[off], a.r2[off], a.r3[off], a.r4[off], a.r5[off])
            #endif
            bp += MemoryLayout<V>.stride
        }
        tile.store(c: c, ldc: ldc)
    }

    /// The `mr` accumulator rows of C.
    @usableFromInline
    struct Tile<V: SIMD> where V.Scalar: RefScalar {
        @usableFromInline typealias T = V.Scalar
        @usableFromInline var c0, c1, c2, c3, c4, c5: V
        #if REF_AVX512
        @usableFromInline var c6, c7: V
        #endif

        @inlinable @inline(__always)
        init(c: UnsafeMutablePointer<T>, ldc: Int, load: Bool) {
            c0 = .init(); c1 = .init(); c2 = .init(); c3 = .init(); c4 = .init(); c5 = .init()
            #if REF_AVX512
            c6 = .init(); c7 = .init()
            #endif
            guard load else { return }
            let cr = UnsafeRawPointer(c), rowBytes = ldc &* MemoryLayout<T>.stride
            c0 = cr.loadUnaligned(as: V.self)
            c1 = cr.loadUnaligned(fromByteOffset: rowBytes, as: V.self)
            c2 = cr.loadUnaligned(fromByteOffset: 2 * rowBytes, as: V.self)
            c3 = cr.loadUnaligned(fromByteOffset: 3 * rowBytes, as: V.self)
            c4 = cr.loadUnaligned(fromByteOffset: 4 * rowBytes, as: V.self)
            c5 = cr.loadUnaligned(fromByteOffset: 5 * rowBytes, as: V.self)
            #if REF_AVX512
            c6 = cr.loadUnaligned(fromByteOffset: 6 * rowBytes, as: V.self)
            c7 = cr.loadUnaligned(fromByteOffset: 7 * rowBytes, as: V.self)
            #endif
        }

        /// c_r += bv * a_r, one term.
        #if REF_AVX512
        @inlinable @inline(__always)
        mutating func update(_ bv: V, _ a0: T, _ a1: T, _ a2: T, _ a3: T, _ a4: T, _ a5: T, _ a6: T, _ a7: T) {
            c0 = madd(c0, bv, a0); c1 = madd(c1, bv, a1); c2 = madd(c2, bv, a2); c3 = madd(c3, bv, a3)
            c4 = madd(c4, bv, a4); c5 = madd(c5, bv, a5); c6 = madd(c6, bv, a6); c7 = madd(c7, bv, a7)
        }
        #else
        @inlinable @inline(__always)
        mutating func update(_ bv: V, _ a0: T, _ a1: T, _ a2: T, _ a3: T, _ a4: T, _ a5: T) {
            c0 = madd(c0, bv, a0); c1 = madd(c1, bv, a1); c2 = madd(c2, bv, a2)
            c3 = madd(c3, bv, a3); c4 = madd(c4, bv, a4); c5 = madd(c5, bv, a5)
        }
        #endif

        @inlinable @inline(__always)
        func store(c: UnsafeMutablePointer<T>, ldc: Int) {
            let cr = UnsafeMutableRawPointer(c), rowBytes = ldc &* MemoryLayout<T>.stride
            cr.storeBytes(of: c0, as: V.self)
            cr.storeBytes(of: c1, toByteOffset: rowBytes, as: V.self)
            cr.storeBytes(of: c2, toByteOffset: 2 * rowBytes, as: V.self)
            cr.storeBytes(of: c3, toByteOffset: 3 * rowBytes, as: V.self)
            cr.storeBytes(of: c4, toByteOffset: 4 * rowBytes, as: V.self)
            cr.storeBytes(of: c5, toByteOffset: 5 * rowBytes, as: V.self)
            #if REF_AVX512
            cr.storeBytes(of: c6, toByteOffset: 6 * rowBytes, as: V.self)
            cr.storeBytes(of: c7, toByteOffset: 7 * rowBytes, as: V.self)
            #endif
        }
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
