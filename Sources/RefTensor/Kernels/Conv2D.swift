/// Fast conv2d: im2col (patches of a bounded group of images) followed by the
/// fast GEMM; a pointwise (1x1, stride 1, unpadded) convolution skips im2col.
///
///     forward:         Y[pixels, O]  = Col[pixels, K] @ W[K, O]         (K = kh*kw*C)
///     input gradient:  dCol          = dY[pixels, O] @ W^T, then col2im (scatter-add)
///     filter gradient: dW[K, O]     += Col^T @ dY, group by group in order
///
/// Images are grouped by a fixed element budget (never by thread count), so the
/// order of every sum, and hence every bit, is independent of `Threads.count`.
extension Conv2DKernels {
    /// Elements of im2col scratch per group (default 16 MiB of Float). Changing it
    /// changes memory use, not results: each group's GEMM continues the previous
    /// group's sums in order.
    nonisolated(unsafe) public static var columnBudget = 1 << 22

    static func imagesPerGroup(_ g: ConvGeometry) -> Int {
        max(1, min(g.batch, columnBudget / max(1, g.pixelsPerImage * g.patchSize)))
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forward<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        var y = Tensor<T>(shape: g.outputShape) { _ in }     // every element is written by the GEMMs below
        let K = g.patchSize, O = g.outC, P = g.pixelsPerImage
        x.scalars.withUnsafeBufferPointer { xp in
        w.scalars.withUnsafeBufferPointer { wp in
        y.scalars.withUnsafeMutableBufferPointer { yp in
            if g.isPointwise {
                Gemm.fast(m: g.batch * P, n: O, k: K, a: .rowMajor(xp.baseAddress!, columns: K),
                          b: .rowMajor(wp.baseAddress!, columns: O), c: yp.baseAddress!, ldc: O, accumulate: false)
                return
            }
            forEachGroup(g, T.self) { n0, count, col in
                im2col(xp.baseAddress!, g, images: n0..<(n0 + count), into: col)
                Gemm.fast(m: count * P, n: O, k: K, a: .rowMajor(col, columns: K),
                          b: .rowMajor(wp.baseAddress!, columns: O), c: yp.baseAddress! + n0 * P * O, ldc: O, accumulate: false)
            }
        } } }
        return y
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func inputGradient<T: RefScalar>(_ dy: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        var dx = Tensor<T>.zeros(g.inputShape)
        let K = g.patchSize, O = g.outC, P = g.pixelsPerImage
        dy.scalars.withUnsafeBufferPointer { dyp in
        w.scalars.withUnsafeBufferPointer { wp in
        dx.scalars.withUnsafeMutableBufferPointer { dxp in
            let wT = StridedMatrix<T>.transposed(wp.baseAddress!, columns: O)
            if g.isPointwise {
                Gemm.fast(m: g.batch * P, n: K, k: O, a: .rowMajor(dyp.baseAddress!, columns: O), b: wT,
                          c: dxp.baseAddress!, ldc: K, accumulate: false)
                return
            }
            forEachGroup(g, T.self) { n0, count, col in
                Gemm.fast(m: count * P, n: K, k: O, a: .rowMajor(dyp.baseAddress! + n0 * P * O, columns: O), b: wT,
                          c: col, ldc: K, accumulate: false)
                col2im(col, g, images: n0..<(n0 + count), into: dxp.baseAddress!)
            }
        } } }
        return dx
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func filterGradient<T: RefScalar>(_ x: Tensor<T>, _ dy: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        if g.batch == 0 { return .zeros(g.kernelShape) }
        var dw = Tensor<T>(shape: g.kernelShape) { _ in }    // the first GEMM overwrites, later ones accumulate
        let K = g.patchSize, O = g.outC, P = g.pixelsPerImage
        x.scalars.withUnsafeBufferPointer { xp in
        dy.scalars.withUnsafeBufferPointer { dyp in
        dw.scalars.withUnsafeMutableBufferPointer { dwp in
            if g.isPointwise {
                Gemm.fast(m: K, n: O, k: g.batch * P, a: .transposed(xp.baseAddress!, columns: K),
                          b: .rowMajor(dyp.baseAddress!, columns: O), c: dwp.baseAddress!, ldc: O, accumulate: false)
                return
            }
            forEachGroup(g, T.self) { n0, count, col in
                im2col(xp.baseAddress!, g, images: n0..<(n0 + count), into: col)
                Gemm.fast(m: K, n: O, k: count * P, a: .transposed(col, columns: K),
                          b: .rowMajor(dyp.baseAddress! + n0 * P * O, columns: O), c: dwp.baseAddress!, ldc: O,
                          accumulate: n0 > 0)
            }
        } } }
        return dw
    }

    /// Calls `body(firstImage, imageCount, columnScratch)` for consecutive groups of
    /// images, in order, with one im2col scratch buffer sized for the largest group.
    static func forEachGroup<T: RefScalar>(_ g: ConvGeometry, _: T.Type,
                                           _ body: (Int, Int, UnsafeMutablePointer<T>) -> Void) {
        let group = imagesPerGroup(g)
        let col = UnsafeMutablePointer<T>.allocate(capacity: group * g.pixelsPerImage * g.patchSize)
        defer { col.deallocate() }
        var n0 = 0
        while n0 < g.batch {
            let count = min(group, g.batch - n0)
            body(n0, count, col)
            n0 += count
        }
    }

    /// col[(n - first) * P + oh * outW + ow, (kh * kW + kw) * C + c] = x[n, ih, iw, c], or 0 in the padding.
    static func im2col<T: RefScalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry, images: Range<Int>,
                                     into col: UnsafeMutablePointer<T>) {
        let K = g.patchSize, C = g.inC, P = g.pixelsPerImage
        Threads.parallelFor(images.count) { i, _ in
            let n = images.lowerBound + i
            var row = col + i * P * K
            for oh in 0..<g.outH { for ow in 0..<g.outW {
                var dst = row
                for kh in 0..<g.kH {
                    let ih = oh * g.strideH - g.padTop + kh
                    for kw in 0..<g.kW {
                        let iw = ow * g.strideW - g.padLeft + kw
                        if ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW {
                            for c in 0..<C { dst[c] = 0 }
                        } else {
                            let src = x + ((n * g.inH + ih) * g.inW + iw) * C
                            if C >= 64 { dst.update(from: src, count: C) } else { for c in 0..<C { dst[c] = src[c] } }
                        }
                        dst += C
                    }
                }
                row += K
            } }
        }
    }

    /// The adjoint of `im2col`: dx[n, ih, iw, c] += col[...] for every patch entry
    /// that read it, image by image (images own disjoint parts of dx).
    static func col2im<T: RefScalar>(_ col: UnsafePointer<T>, _ g: ConvGeometry, images: Range<Int>,
                                     into dx: UnsafeMutablePointer<T>) {
        let K = g.patchSize, C = g.inC, P = g.pixelsPerImage
        Threads.parallelFor(images.count) { i, _ in
            let n = images.lowerBound + i
            var row = col + i * P * K
            for oh in 0..<g.outH { for ow in 0..<g.outW {
                var src = row
                for kh in 0..<g.kH {
                    let ih = oh * g.strideH - g.padTop + kh
                    for kw in 0..<g.kW {
                        let iw = ow * g.strideW - g.padLeft + kw
                        if ih >= 0 && ih < g.inH && iw >= 0 && iw < g.inW {
                            let d = dx + ((n * g.inH + ih) * g.inW + iw) * C
                            for c in 0..<C { d[c] += src[c] }
                        }
                        src += C
                    }
                }
                row += K
            } }
        }
    }
}
