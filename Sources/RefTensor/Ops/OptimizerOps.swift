/// The elementwise arithmetic of SAM and SGD, fused into single passes. The
/// rounding of every expression is exactly that of the unfused formulas, which
/// the fixtures pin down. Elementwise passes run chunk by chunk in parallel.
public enum OptimizerOp {
    /// SAM's ascent point: p + rho * (g / denominator), denominator = ||g|| + 1e-12.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func ascentPoint<T: RefScalar>(_ p: Tensor<T>, gradient g: Tensor<T>, rho: T, denominator: T) -> Tensor<T> {
        precondition(p.shape == g.shape, "ascentPoint: shapes \(p.shape) and \(g.shape)")
        return p.scalars.withUnsafeBufferPointer { pp in g.scalars.withUnsafeBufferPointer { gp in
            Tensor(shape: p.shape, eachChunk: { r, out in for i in r { out[i] = pp[i] + rho * (gp[i] / denominator) } })
        } }
    }

    /// Weight decay then optax.sgd with momentum, in one pass:
    ///     g' = g + wd * p;  trace' = g' + momentum * trace;  p' = p - lr * trace'
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func momentumStep<T: RefScalar>(param p: Tensor<T>, trace t: Tensor<T>, gradient g: Tensor<T>,
                                                  weightDecay wd: T, momentum: T, learningRate lr: T)
        -> (gradient: Tensor<T>, trace: Tensor<T>, param: Tensor<T>) {
        precondition(p.shape == g.shape && p.shape == t.shape, "momentumStep: shapes \(p.shape), \(t.shape), \(g.shape)")
        // Three outputs written in one pass, allocated unfilled.
        let out = Tensor<T>.making(3, shape: p.shape) { out in
            Tensor<T>.withScalars(of: [p, t, g]) { input in
                let (pp, tp, gp) = (input[0], input[1], input[2])
                let (go, to, po) = (out[0], out[1], out[2])
                Threads.forEachChunk(p.count) { r in
                    for i in r {
                        let gi = gp[i] + wd * pp[i]
                        let ti = gi + momentum * tp[i]
                        go[i] = gi; to[i] = ti
                        po[i] = pp[i] - lr * ti
                    }
                }
            }
        }
        return (out[0], out[1], out[2])
    }

    /// `momentumStep` written over its inputs: gradient becomes g', trace trace', param p'.
    /// Same arithmetic, same bits. Where the three buffers are not shared (a training
    /// loop that owns its state) nothing is allocated and each element is read and
    /// written where it lies: about half the memory traffic of writing three new
    /// tensors, and this pass is memory-bound (5.37 million parameters in the widest MLP).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func momentumStepInPlace<T: RefScalar>(param p: inout Tensor<T>, trace t: inout Tensor<T>, gradient g: inout Tensor<T>,
                                                         weightDecay wd: T, momentum: T, learningRate lr: T) {
        precondition(p.shape == g.shape && p.shape == t.shape, "momentumStep: shapes \(p.shape), \(t.shape), \(g.shape)")
        let n = p.count
        p.withUnsafeMutableScalars { pp in t.withUnsafeMutableScalars { tp in g.withUnsafeMutableScalars { gp in
            guard let pp = pp.baseAddress, let tp = tp.baseAddress, let gp = gp.baseAddress else { return }
            Threads.forEachChunk(n) { r in
                // Eight lanes at a time by hand: the compiler cannot tell the three
                // buffers apart, so it would not vectorise the loop itself.
                var i = r.lowerBound
                while i &+ 8 <= r.upperBound {
                    let p = lanes(pp + i), gi = lanes(gp + i) + wd * p
                    let ti = gi + momentum * lanes(tp + i)
                    storeLanes(gi, gp + i); storeLanes(ti, tp + i)
                    storeLanes(p - lr * ti, pp + i)
                    i &+= 8
                }
                while i < r.upperBound {
                    let gi = gp[i] + wd * pp[i]
                    let ti = gi + momentum * tp[i]
                    gp[i] = gi; tp[i] = ti
                    pp[i] = pp[i] - lr * ti
                    i &+= 1
                }
            }
        } } }
    }

    /// Sum of squares in Double, in a fixed order that no thread count changes:
    /// each `Threads.chunk`-sized chunk is summed in 8 interleaved lanes (element i
    /// into lane i % 8, in index order), the lanes are added 0 through 7, and the
    /// chunk sums are added in chunk order. (Double keeps the result within a few
    /// ulps of the exact sum for any realistic parameter count.)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func sumOfSquares<T: RefScalar>(_ x: Tensor<T>) -> Double {
        x.scalars.withUnsafeBufferPointer { p in
            let p = p.baseAddress
            return Threads.chunkedSums(x.count, size: Threads.chunk, width: 1) { r, acc in acc[0] = laneSumOfSquares(p!, r) }[0]
        }
    }

    @inlinable
    static func laneSumOfSquares<T: RefScalar>(_ p: UnsafePointer<T>, _ r: Range<Int>) -> Double {
        var lanes = SIMD8<Double>()
        var i = r.lowerBound
        while i + 8 <= r.upperBound {
            let v = SIMD8<Double>(Double(p[i]), Double(p[i + 1]), Double(p[i + 2]), Double(p[i + 3]),
                                  Double(p[i + 4]), Double(p[i + 5]), Double(p[i + 6]), Double(p[i + 7]))
            lanes += v * v
            i += 8
        }
        var lane = 0
        while i < r.upperBound { let d = Double(p[i]); lanes[lane] += d * d; i += 1; lane += 1 }
        var s = 0.0
        for l in 0..<8 { s += lanes[l] }
        return s
    }
}
