/// The definition of conv2d (cross-correlation, NHWC input, HWIO kernel) and its
/// two gradients, as direct loops. The fast kernels in `Conv2D.swift` are tested
/// against these.
extension Conv2DKernels {
    /// y[n, oh, ow, o] = sum_{kh, kw, c} x[n, oh*sh - padTop + kh, ow*sw - padLeft + kw, c] * w[kh, kw, c, o]
    /// (terms outside the input are zero).
    public static func forwardNaive<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        var y = Tensor<T>.zeros(g.outputShape)
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for o in 0..<g.outC {
            var acc: T = 0
            for kh in 0..<g.kH { for kw in 0..<g.kW {
                let ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw
                if ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW { continue }
                for c in 0..<g.inC {
                    acc += x.scalars[((n * g.inH + ih) * g.inW + iw) * g.inC + c] * w.scalars[((kh * g.kW + kw) * g.inC + c) * g.outC + o]
                }
            } }
            y.scalars[((n * g.outH + oh) * g.outW + ow) * g.outC + o] = acc
        } } } }
        return y
    }

    /// dx[n, ih, iw, c] = sum over every (oh, ow, kh, kw, o) that reads x[n, ih, iw, c] of dy[n, oh, ow, o] * w[kh, kw, c, o].
    public static func inputGradientNaive<T: RefScalar>(_ dy: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        var dx = Tensor<T>.zeros(g.inputShape)
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
            for kh in 0..<g.kH { for kw in 0..<g.kW {
                let ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw
                if ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW { continue }
                for c in 0..<g.inC {
                    var acc: T = 0
                    for o in 0..<g.outC {
                        acc += dy.scalars[((n * g.outH + oh) * g.outW + ow) * g.outC + o] * w.scalars[((kh * g.kW + kw) * g.inC + c) * g.outC + o]
                    }
                    dx.scalars[((n * g.inH + ih) * g.inW + iw) * g.inC + c] += acc
                }
            } }
        } } }
        return dx
    }

    /// dw[kh, kw, c, o] = sum_{n, oh, ow} x[n, oh*sh - padTop + kh, ow*sw - padLeft + kw, c] * dy[n, oh, ow, o].
    public static func filterGradientNaive<T: RefScalar>(_ x: Tensor<T>, _ dy: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        var dw = Tensor<T>.zeros(g.kernelShape)
        for kh in 0..<g.kH { for kw in 0..<g.kW { for c in 0..<g.inC { for o in 0..<g.outC {
            var acc: T = 0
            for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
                let ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw
                if ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW { continue }
                acc += x.scalars[((n * g.inH + ih) * g.inW + iw) * g.inC + c] * dy.scalars[((n * g.outH + oh) * g.outW + ow) * g.outC + o]
            } } }
            dw.scalars[((kh * g.kW + kw) * g.inC + c) * g.outC + o] = acc
        } } } }
        return dw
    }
}
