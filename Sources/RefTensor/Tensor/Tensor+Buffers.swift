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
    /// not zero-filled first): for ops with several outputs computed in one pass. Each
    /// is made by `init(shape:initializingWith:)`, nested so all buffers are open at once.
    public static func making(_ count: Int, shape: [Int],
                              _ body: ([UnsafeMutableBufferPointer<Scalar>]) throws -> Void) rethrows -> [Tensor] {
        try making(count, shape: shape, [], body)
    }

    static func making(_ remaining: Int, shape: [Int], _ open: [UnsafeMutableBufferPointer<Scalar>],
                       _ body: ([UnsafeMutableBufferPointer<Scalar>]) throws -> Void) rethrows -> [Tensor] {
        if remaining == 0 { try body(open); return [] }
        var inner: [Tensor] = []
        let mine = try Tensor(shape: shape) { buffer in inner = try making(remaining - 1, shape: shape, open + [buffer], body) }
        return [mine] + inner
    }
}
