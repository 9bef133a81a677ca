/// The elementwise arithmetic of SAM and SGD, fused into single passes. The
/// rounding of every expression is exactly that of the unfused formulas, which
/// the fixtures pin down.
public enum OptimizerOp {
    /// SAM's ascent point: p + rho * (g / denominator), denominator = ||g|| + 1e-12.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func ascentPoint<T: RefScalar>(_ p: Tensor<T>, gradient g: Tensor<T>, rho: T, denominator: T) -> Tensor<T> {
        precondition(p.shape == g.shape, "ascentPoint: shapes \(p.shape) and \(g.shape)")
        return p.scalars.withUnsafeBufferPointer { pp in g.scalars.withUnsafeBufferPointer { gp in
            Tensor(shape: p.shape) { out in for i in out.indices { out[i] = pp[i] + rho * (gp[i] / denominator) } }
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
        let n = p.count
        var g2 = [T](), t2 = [T](), p2 = [T]()
        p.scalars.withUnsafeBufferPointer { pp in t.scalars.withUnsafeBufferPointer { tp in g.scalars.withUnsafeBufferPointer { gp in
            g2 = [T](unsafeUninitializedCapacity: n) { go, gc in
                t2 = [T](unsafeUninitializedCapacity: n) { to, tc in
                    p2 = [T](unsafeUninitializedCapacity: n) { po, pc in
                        for i in 0..<n {
                            let gi = gp[i] + wd * pp[i]
                            let ti = gi + momentum * tp[i]
                            go[i] = gi; to[i] = ti
                            po[i] = pp[i] - lr * ti
                        }
                        pc = n
                    }
                    tc = n
                }
                gc = n
            }
        } } }
        return (Tensor(shape: g.shape, scalars: g2), Tensor(shape: t.shape, scalars: t2), Tensor(shape: p.shape, scalars: p2))
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
