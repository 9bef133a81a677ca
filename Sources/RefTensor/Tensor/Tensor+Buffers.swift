/// Borrowing the elements of several tensors at once: one closure instead of a
/// pyramid of nested `withUnsafeBufferPointer` calls.
extension Tensor {
    /// Runs `body` with the elements of each of `tensors`, in order, as read-only
    /// buffers that stay valid for the whole call.
    @inlinable
    public static func withScalars<R>(of tensors: [Tensor], _ body: ([UnsafeBufferPointer<Scalar>]) throws -> R) rethrows -> R {
        try borrow(tensors[...], [], body)
    }

    @usableFromInline
    static func borrow<R>(_ rest: ArraySlice<Tensor>, _ taken: [UnsafeBufferPointer<Scalar>],
                          _ body: ([UnsafeBufferPointer<Scalar>]) throws -> R) rethrows -> R {
        guard let first = rest.first else { return try body(taken) }
        return try first.scalars.withUnsafeBufferPointer { try borrow(rest.dropFirst(), taken + [$0], body) }
    }

    /// `count` new tensors of `shape` whose every element `body` must write (they are
    /// not zero-filled first): for ops with several outputs computed in one pass.
    public static func making(_ count: Int, shape: [Int],
                              _ body: ([UnsafeMutableBufferPointer<Scalar>]) throws -> Void) rethrows -> [Tensor] {
        let n = shape.reduce(1, *)
        return try fill(count, n, [], body).map { Tensor(shape: shape, scalars: $0) }
    }

    static func fill(_ remaining: Int, _ n: Int, _ open: [UnsafeMutableBufferPointer<Scalar>],
                     _ body: ([UnsafeMutableBufferPointer<Scalar>]) throws -> Void) rethrows -> [[Scalar]] {
        if remaining == 0 { try body(open); return [] }
        var inner: [[Scalar]] = []
        let mine = try [Scalar](unsafeUninitializedCapacity: n) { buffer, initialized in
            inner = try fill(remaining - 1, n, open + [buffer], body)
            initialized = n
        }
        return [mine] + inner
    }
}
