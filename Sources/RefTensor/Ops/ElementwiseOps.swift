/// Elementwise ops. Operands must have identical shapes: nothing broadcasts silently.
public enum ElementwiseOp {
    /// y = max(x, 0). Gradient: dy where x > 0, else 0 (0 at x == 0, as JAX).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func relu<T: RefScalar>(_ x: Tensor<T>) -> Tensor<T> {
        var y = x
        y.scalars.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = p[i] > 0 ? p[i] : 0 } }
        return y
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func reluBackward<T: RefScalar>(_ dy: Tensor<T>, x: Tensor<T>) -> Tensor<T> {
        var dx = dy
        x.scalars.withUnsafeBufferPointer { xp in dx.scalars.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = xp[i] > 0 ? p[i] : 0 }
        } }
        return dx
    }

    /// a + b, same shape. Gradient: dy to both.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func add<T: RefScalar>(_ a: Tensor<T>, _ b: Tensor<T>, op: String = "add") throws -> Tensor<T> {
        try b.checkShape(a.shape, op: op, "second operand must match the first")
        var y = a
        b.scalars.withUnsafeBufferPointer { bp in y.scalars.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] += bp[i] }
        } }
        return y
    }

    /// a * b elementwise, same shape (masking: b is 0/1). Gradient wrt a: dy * b.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func multiply<T: RefScalar>(_ a: Tensor<T>, _ b: Tensor<T>, op: String = "multiply") throws -> Tensor<T> {
        try b.checkShape(a.shape, op: op, "second operand must match the first")
        var y = a
        b.scalars.withUnsafeBufferPointer { bp in y.scalars.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] *= bp[i] }
        } }
        return y
    }

    /// s * a
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func scale<T: RefScalar>(_ a: Tensor<T>, by s: T) -> Tensor<T> {
        var y = a
        y.scalars.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= s } }
        return y
    }
}
