/// The elementwise arithmetic of SAM and SGD, fused into single passes. The
/// rounding of every expression is exactly that of the unfused formulas, which
/// the fixtures pin down.
public enum OptimizerOp {
    /// SAM's ascent point: p + rho * (g / denominator), denominator = ||g|| + 1e-12.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func ascentPoint<T: RefScalar>(_ p: Tensor<T>, gradient g: Tensor<T>, rho: T, denominator: T) -> Tensor<T> {
        precondition(p.shape == g.shape, "ascentPoint: shapes \(p.shape) and \(g.shape)")
        var out = p
        g.scalars.withUnsafeBufferPointer { gp in out.scalars.withUnsafeMutableBufferPointer { op in
            for i in op.indices { op[i] = op[i] + rho * (gp[i] / denominator) }
        } }
        return out
    }

    /// Weight decay then optax.sgd with momentum, in one pass:
    ///     g' = g + wd * p;  trace' = g' + momentum * trace;  p' = p - lr * trace'
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func momentumStep<T: RefScalar>(param p: Tensor<T>, trace t: Tensor<T>, gradient g: Tensor<T>,
                                                  weightDecay wd: T, momentum: T, learningRate lr: T)
        -> (gradient: Tensor<T>, trace: Tensor<T>, param: Tensor<T>) {
        precondition(p.shape == g.shape && p.shape == t.shape, "momentumStep: shapes \(p.shape), \(t.shape), \(g.shape)")
        var g2 = g, t2 = t, p2 = p
        g2.scalars.withUnsafeMutableBufferPointer { gp in t2.scalars.withUnsafeMutableBufferPointer { tp in
            p2.scalars.withUnsafeMutableBufferPointer { pp in
                for i in pp.indices {
                    let gi = gp[i] + wd * pp[i]
                    let ti = gi + momentum * tp[i]
                    gp[i] = gi; tp[i] = ti
                    pp[i] = pp[i] - lr * ti
                }
            }
        } }
        return (g2, t2, p2)
    }

    /// sum of squares in Double, in index order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func sumOfSquares<T: RefScalar>(_ x: Tensor<T>) -> Double {
        var s = 0.0
        x.scalars.withUnsafeBufferPointer { p in for v in p { let d = Double(v); s += d * d } }
        return s
    }
}
