/// Fast conv2d: the fast GEMM on the im2col matrix of a bounded group of images;
/// a pointwise (1x1, stride 1, unpadded) convolution is a plain GEMM on x.
///
///     forward:         Y[pixels, O]  = Col[pixels, K] @ W[K, O]         (K = kh*kw*C)
///     input gradient:  stride 1: a convolution of dY with the flipped kernel
///                      (`transposedGeometry`); otherwise dCol = dY[pixels, O] @ W^T,
///                      then col2im (scatter-add)
///     filter gradient: dW[K, O]     += Col^T @ dY, group by group in order
///
/// The forward and filter-gradient GEMMs read Col without building it: a
/// `GatherMatrix` over the zero-padded images (`forEachPaddedGroup`) gives the
/// same entries, so the result is the same, bit for bit, as with a copied Col.
///
/// Images are grouped by a fixed element budget (never by thread count), so the
/// order of every sum, and hence every bit, is independent of `Threads.count`.
public enum Conv2DKernels {
    /// Elements of scratch per group of images (default 1 MiB of Float): the
    /// im2col matrix of the input gradient, the zero-padded copy of the forward
    /// and filter-gradient passes. Small enough that a group's copy is still in the
    /// L2 cache when its GEMM reads it (16 MiB groups made the ResNet18 nf 16 step
    /// about 3% slower here). Changing it changes memory use and speed, not results:
    /// each group's GEMM continues the previous group's sums in order.
    nonisolated(unsafe) static var columnBudget = 1 << 18

    static func imagesPerGroup(_ g: ConvGeometry) -> Int {
        max(1, min(g.batch, columnBudget / max(1, g.pixelsPerImage * g.patchSize)))
    }

    /// y = conv2d(x, w) with geometry `g`: x [N, H, W, C], w [kh, kw, C, O] -> y [N, OH, OW, O]. Matches `forwardNaive` up to summation order (bit for bit in the portable build).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forward<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        if runsWinograd(g) { return winogradForward(x, w, g) }
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
            forEachPaddedGroup(xp.baseAddress!, g) { n0, count, columns in
                Gemm.fast(m: count * P, n: O, k: K, lhs: columns.matrix,
                          b: .rowMajor(wp.baseAddress!, columns: O), c: yp.baseAddress! + n0 * P * O, ldc: O, accumulate: false)
            }
        } } }
        return y
    }

    /// dx from dy [N, OH, OW, O] and w: the gradient of `forward` with respect to its input. Matches `inputGradientNaive` within rounding.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func inputGradient<T: RefScalar>(_ dy: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        if !g.isPointwise, let t = transposedGeometry(g) {
            return forward(dy, flippedKernel(w, g), t)
        }
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

    /// dw from x and dy: the gradient of `forward` with respect to its kernel. Matches `filterGradientNaive` within rounding.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func filterGradient<T: RefScalar>(_ x: Tensor<T>, _ dy: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        if g.batch == 0 { return .zeros(g.kernelShape) }
        if runsWinograd(g) { return winogradFilterGradient(x, dy, g) }
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
            forEachPaddedGroup(xp.baseAddress!, g) { n0, count, columns in
                Gemm.fast(m: K, n: O, k: count * P, lhs: columns.transposed,
                          b: .rowMajor(dyp.baseAddress! + n0 * P * O, columns: O), c: dwp.baseAddress!, ldc: O,
                          accumulate: n0 > 0)
            }
        } } }
        return dw
    }

    /// A stride-1 convolution's input gradient is itself a stride-1 convolution:
    ///
    ///     dx[n, i, j, c] = sum over kh, kw, o of dy[n, i + padTop - kh, j + padLeft - kw, o] * W[kh, kw, c, o]
    ///                    = conv(dy, W'), W'[kh, kw, o, c] = W[kH-1-kh, kW-1-kw, c, o],
    ///
    /// with padding (kH-1-padTop, kH-1-padBottom) x (kW-1-padLeft, kW-1-padRight).
    /// So it runs as a forward pass (implicit im2col, no col2im scatter). Returns
    /// nil where that padding would be negative, or for strides above 1.
    static func transposedGeometry(_ g: ConvGeometry) -> ConvGeometry? {
        guard g.strideH == 1, g.strideW == 1, g.padTop < g.kH, g.padBottom < g.kH, g.padLeft < g.kW, g.padRight < g.kW else {
            return nil
        }
        let t = try? ConvGeometry(op: "conv2d input gradient", input: g.outputShape, window: (g.kH, g.kW),
                                  inChannels: g.outC, outChannels: g.inC, strides: (1, 1),
                                  padding: .explicit(height: (g.kH - 1 - g.padTop, g.kH - 1 - g.padBottom),
                                                     width: (g.kW - 1 - g.padLeft, g.kW - 1 - g.padRight)))
        guard let t, t.outputShape == g.inputShape else { return nil }
        return t
    }

    /// W'[kh, kw, o, c] = W[kH-1-kh, kW-1-kw, c, o].
    static func flippedKernel<T: RefScalar>(_ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        let C = g.inC, O = g.outC
        return w.scalars.withUnsafeBufferPointer { wp in
            Tensor(shape: [g.kH, g.kW, O, C]) { out in
                for kh in 0..<g.kH { for kw in 0..<g.kW {
                    let src = wp.baseAddress! + ((g.kH - 1 - kh) * g.kW + (g.kW - 1 - kw)) * C * O
                    let dst = out.baseAddress! + (kh * g.kW + kw) * O * C
                    for o in 0..<O { for c in 0..<C { dst[o * C + c] = src[c * O + o] } }
                } }
            }
        }
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

    /// The adjoint of im2col, where col[(n - first) * P + oh * outW + ow, (kh * kW + kw) * C + c]
    /// holds the patch entry read from x[n, ih, iw, c] (or the padding):
    /// dx[n, ih, iw, c] += col[...] for every entry that read it, image by image
    /// (images own disjoint parts of dx).
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

/// The im2col matrix of a group of images, as offsets into their zero-padded copy.
struct ImplicitColumns<T: RefScalar> {
    let base: UnsafePointer<T>
    /// Per pixel (n, oh, ow) of the group: where its window's top-left entry lies.
    let pixelOffsets: UnsafePointer<Int>
    /// Per patch entry (kh, kw, c): its offset from the window's top-left entry.
    let patchOffsets: UnsafePointer<Int>

    /// Col[pixels, K].
    var matrix: GatherMatrix<T> { GatherMatrix(base, rowOffsets: pixelOffsets, colOffsets: patchOffsets) }
    /// Col^T[K, pixels].
    var transposed: GatherMatrix<T> { GatherMatrix(base, rowOffsets: patchOffsets, colOffsets: pixelOffsets) }
}

extension Conv2DKernels {
    /// Calls `body(firstImage, imageCount, columns)` for consecutive groups of images,
    /// in order. Each group's images are copied with a zero border of the padding
    /// (unless there is none: then x is read directly), at most `columnBudget`
    /// elements of copy per group.
    static func forEachPaddedGroup<T: RefScalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry,
                                                 _ body: (Int, Int, ImplicitColumns<T>) -> Void) {
        let C = g.inC
        let (hp, wp) = paddedSize(g)
        let padded = hp != g.inH || wp != g.inW
        let imageSize = hp * wp * C
        let group = paddedImagesPerGroup(g)
        let copy = padded ? UnsafeMutablePointer<T>.allocate(capacity: group * imageSize) : nil
        defer { copy?.deallocate() }
        var patch = [Int](), pixel = [Int]()
        patch.reserveCapacity(g.patchSize)
        pixel.reserveCapacity(group * g.pixelsPerImage)
        for kh in 0..<g.kH { for kw in 0..<g.kW { for c in 0..<C { patch.append((kh * wp + kw) * C + c) } } }
        for n in 0..<group { for oh in 0..<g.outH { for ow in 0..<g.outW {
            pixel.append(((n * hp + oh * g.strideH) * wp + ow * g.strideW) * C)
        } } }
        patch.withUnsafeBufferPointer { patch in pixel.withUnsafeBufferPointer { pixel in
            var n0 = 0
            while n0 < g.batch {
                let count = min(group, g.batch - n0)
                let base: UnsafePointer<T>
                if let copy {
                    padImages(x, g, images: n0..<(n0 + count), hp: hp, wp: wp, into: copy)
                    base = UnsafePointer(copy)
                } else {
                    base = x + n0 * imageSize
                }
                body(n0, count, ImplicitColumns(base: base, pixelOffsets: pixel.baseAddress!, patchOffsets: patch.baseAddress!))
                n0 += count
            }
        } }
    }

    /// Height and width of an image with its padding border.
    static func paddedSize(_ g: ConvGeometry) -> (Int, Int) {
        (g.inH + g.padTop + g.padBottom, g.inW + g.padLeft + g.padRight)
    }

    static func paddedImagesPerGroup(_ g: ConvGeometry) -> Int {
        let (hp, wp) = paddedSize(g)
        return max(1, min(g.batch, columnBudget / max(1, hp * wp * g.inC)))
    }

    /// copy[n - first, ih + padTop, iw + padLeft, c] = x[n, ih, iw, c], zero in the border.
    static func padImages<T: RefScalar>(_ x: UnsafePointer<T>, _ g: ConvGeometry, images: Range<Int>,
                                        hp: Int, wp: Int, into copy: UnsafeMutablePointer<T>) {
        let C = g.inC, rowIn = g.inW * C, rowOut = wp * C
        Threads.parallelFor(images.count) { i, _ in
            let src = x + (images.lowerBound + i) * g.inH * rowIn
            let dst = copy + i * hp * rowOut
            for h in 0..<hp {
                let out = dst + h * rowOut
                let ih = h - g.padTop
                if ih < 0 || ih >= g.inH { out.update(repeating: 0, count: rowOut); continue }
                out.update(repeating: 0, count: g.padLeft * C)
                (out + g.padLeft * C).update(from: src + ih * rowIn, count: rowIn)
                (out + (g.padLeft + g.inW) * C).update(repeating: 0, count: g.padRight * C)
            }
        }
    }
}
