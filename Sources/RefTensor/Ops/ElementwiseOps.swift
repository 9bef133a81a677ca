/// Elementwise ops. Operands must have identical shapes: nothing broadcasts silently.
/// Every element depends on its own index only, so the chunks run in parallel.
public enum ElementwiseOp {
    /// y = max(x, 0), with NaN propagated as JAX and PyTorch do (a NaN weight must not
    /// evaluate to a plausible loss). Gradient: dy where x > 0, else 0 (0 at x == 0, as JAX).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func relu<T: RefScalar>(_ x: Tensor<T>) -> Tensor<T> {
        // !(x <= 0) holds for x > 0 and for NaN: one comparison.
        x.scalars.withUnsafeBufferPointer { xp in
            Tensor(shape: x.shape, eachChunk: { r, y in for i in r { y[i] = !(xp[i] <= 0) ? xp[i] : 0 } })
        }
    }

    /// dx = dy where x > 0, else 0 (the subgradient 0 at x = 0, as JAX takes it).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func reluBackward<T: RefScalar>(_ dy: Tensor<T>, x: Tensor<T>) -> Tensor<T> {
        x.scalars.withUnsafeBufferPointer { xp in dy.scalars.withUnsafeBufferPointer { gp in
            Tensor(shape: x.shape, eachChunk: { r, dx in for i in r { dx[i] = xp[i] > 0 ? gp[i] : 0 } })
        } }
    }

    /// a + b, same shape. Gradient: dy to both.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func add<T: RefScalar>(_ a: Tensor<T>, _ b: Tensor<T>, op: String = "add") throws -> Tensor<T> {
        try b.checkShape(a.shape, op: op, "second operand must match the first")
        return a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in
            Tensor(shape: a.shape, eachChunk: { r, y in for i in r { y[i] = ap[i] + bp[i] } })
        } }
    }

    /// a * b elementwise, same shape (masking: b is 0/1). Gradient wrt a: dy * b.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func multiply<T: RefScalar>(_ a: Tensor<T>, _ b: Tensor<T>, op: String = "multiply") throws -> Tensor<T> {
        try b.checkShape(a.shape, op: op, "second operand must match the first")
        return a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in
            Tensor(shape: a.shape, eachChunk: { r, y in for i in r { y[i] = ap[i] * bp[i] } })
        } }
    }
}
