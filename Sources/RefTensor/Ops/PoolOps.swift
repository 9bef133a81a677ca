/// Pooling over NHWC windows.
public enum PoolOp {
    static func geometry(_ x: [Int], window: (Int, Int), strides: (Int, Int), padding: Padding, op: String) throws -> ConvGeometry {
        guard x.count == 4 else { throw TensorError.invalidShape(op: op, shape: x, detail: "input must be NHWC (rank 4)") }
        return try ConvGeometry(op: op, input: x, window: (window.0, window.1), inChannels: x[3], outChannels: x[3],
                                strides: strides, padding: padding)
    }

    /// Average pool, no padding (Flax `avg_pool`, VALID): the mean of each window.
    /// x: [N, H, W, C] -> [N, OH, OW, C]
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func avgPool<T: RefScalar>(_ x: Tensor<T>, window: (Int, Int), strides: (Int, Int)) throws -> Tensor<T> {
        let g = try geometry(x.shape, window: window, strides: strides, padding: .valid, op: "avgPool")
        var y = Tensor<T>.zeros(g.outputShape)
        let inv = 1 / T(g.kH * g.kW), C = g.inC
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
            let out = ((n * g.outH + oh) * g.outW + ow) * C
            for kh in 0..<g.kH { for kw in 0..<g.kW {
                let src = ((n * g.inH + oh * g.strideH + kh) * g.inW + ow * g.strideW + kw) * C
                for c in 0..<C { y.scalars[out + c] += x.scalars[src + c] }
            } }
            for c in 0..<C { y.scalars[out + c] *= inv }
        } } }
        return y
    }

    /// dx[window element] += dy / (kh * kw)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func avgPoolBackward<T: RefScalar>(_ dy: Tensor<T>, inputShape: [Int], window: (Int, Int), strides: (Int, Int)) -> Tensor<T> {
        let g = try! geometry(inputShape, window: window, strides: strides, padding: .valid, op: "avgPool")
        var dx = Tensor<T>.zeros(inputShape)
        let inv = 1 / T(g.kH * g.kW), C = g.inC
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW {
            let out = ((n * g.outH + oh) * g.outW + ow) * C
            for kh in 0..<g.kH { for kw in 0..<g.kW {
                let src = ((n * g.inH + oh * g.strideH + kh) * g.inW + ow * g.strideW + kw) * C
                for c in 0..<C { dx.scalars[src + c] += dy.scalars[out + c] * inv }
            } }
        } } }
        return dx
    }

    /// Max pool (Flax `max_pool`): padding counts as -infinity.
    ///
    /// Ties: the gradient goes to exactly one element, the *first* maximum in the
    /// window's row-major scan order (top row first, left to right), as XLA's
    /// select-and-scatter with `>=` does. Returns, per output, the flat input index
    /// of that element. Same comparisons as `maxPoolNaive` (so the same outputs and
    /// indices, NaN included), with the channels innermost and images in parallel.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func maxPool<T: RefScalar>(_ x: Tensor<T>, window: (Int, Int), strides: (Int, Int), padding: Padding) throws
        -> (y: Tensor<T>, argmax: [Int]) {
        let g = try geometry(x.shape, window: window, strides: strides, padding: padding, op: "maxPool")
        var argmax = [Int](repeating: -1, count: g.outputShape.reduce(1, *))
        let C = g.inC
        let y = x.scalars.withUnsafeBufferPointer { xp in
        argmax.withUnsafeMutableBufferPointer { ap in
        Tensor<T>(shape: g.outputShape) { yp in          // every element is written below
            let xb = xp.baseAddress!, yb = yp.baseAddress!, ab = ap.baseAddress!
            Threads.parallelFor(g.batch) { n, _ in
                for oh in 0..<g.outH { for ow in 0..<g.outW {
                    let o = ((n &* g.outH &+ oh) &* g.outW &+ ow) &* C
                    var first = true
                    for kh in 0..<g.kH {
                        let ih = oh &* g.strideH &- g.padTop &+ kh
                        if ih < 0 || ih >= g.inH { continue }
                        for kw in 0..<g.kW {
                            let iw = ow &* g.strideW &- g.padLeft &+ kw
                            if iw < 0 || iw >= g.inW { continue }
                            let i = ((n &* g.inH &+ ih) &* g.inW &+ iw) &* C
                            if first {
                                for c in 0..<C { yb[o &+ c] = xb[i &+ c]; ab[o &+ c] = i &+ c }
                                first = false
                            } else {
                                for c in 0..<C where xb[i &+ c] > yb[o &+ c] { yb[o &+ c] = xb[i &+ c]; ab[o &+ c] = i &+ c }
                            }
                        }
                    }
                    if first { for c in 0..<C { yb[o &+ c] = -T.infinity } }     // a window of padding only
                } }
            }
        } } }
        return (y, argmax)
    }

    /// The definition of `maxPool`: one output element at a time, the window scanned in
    /// row-major order, the first element taken and then any strictly greater one.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func maxPoolNaive<T: RefScalar>(_ x: Tensor<T>, window: (Int, Int), strides: (Int, Int), padding: Padding) throws
        -> (y: Tensor<T>, argmax: [Int]) {
        let g = try geometry(x.shape, window: window, strides: strides, padding: padding, op: "maxPool")
        var y = Tensor<T>.zeros(g.outputShape)
        var argmax = [Int](repeating: -1, count: y.count)
        let C = g.inC
        for n in 0..<g.batch { for oh in 0..<g.outH { for ow in 0..<g.outW { for c in 0..<C {
            var best = -T.infinity, bestIndex = -1
            for kh in 0..<g.kH { for kw in 0..<g.kW {
                let ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw
                if ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW { continue }
                let i = ((n * g.inH + ih) * g.inW + iw) * C + c
                if bestIndex < 0 || x.scalars[i] > best { best = x.scalars[i]; bestIndex = i }
            } }
            let o = ((n * g.outH + oh) * g.outW + ow) * C + c
            y.scalars[o] = best
            argmax[o] = bestIndex
        } } } }
        return (y, argmax)
    }

    /// dx of max pooling: each dy entry added to the input position `argmax` recorded for it (-1: none).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func maxPoolBackward<T: RefScalar>(_ dy: Tensor<T>, inputShape: [Int], argmax: [Int]) -> Tensor<T> {
        var dx = Tensor<T>.zeros(inputShape)
        dx.withUnsafeMutableScalars { dxp in
            dy.scalars.withUnsafeBufferPointer { dyp in
                for (o, i) in argmax.enumerated() where i >= 0 { dxp[i] += dyp[o] }     // in output order
            }
        }
        return dx
    }
}
