/// A dense, row-major (C-order), contiguous n-dimensional array.
///
/// Images are NHWC, Dense kernels `[in, out]`, Conv kernels HWIO, as in Flax.
/// Storage is a Swift array, so copies are copy-on-write and a tensor is a value.
public struct Tensor<Scalar: RefScalar>: Equatable, CustomStringConvertible, Sendable {
    /// The size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order. Read-only outside this module, so the count
    /// always matches the shape; change elements with `subscript(flat:)` or
    /// `withUnsafeMutableScalars`.
    public internal(set) var scalars: [Scalar]

    /// A tensor of `shape` holding `scalars` in row-major order.
    /// The count must equal the product of the shape (a precondition: this is
    /// the one constructor callers build from raw data, and a wrong count here is
    /// a programming error, not a data error).
    public init(shape: [Int], scalars: [Scalar]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of `shape` filled with `value`.
    @inlinable
    public init(repeating value: Scalar, shape: [Int]) {
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of `shape` filled with 0.
    @inlinable public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    /// A tensor of `shape` filled with 1.
    @inlinable public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// A tensor whose every element `body` writes (no zero-fill first). `body` must
    /// initialise all `shape.reduce(1, *)` elements.
    @inlinable
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Scalar>) throws -> Void) rethrows {
        let n = shape.reduce(1, *)
        let s = try [Scalar](unsafeUninitializedCapacity: n) { buffer, count in
            try body(buffer)
            count = n
        }
        self.init(shape: shape, scalars: s)
    }

    /// A tensor whose elements `body(range, out)` writes chunk by chunk, chunks in
    /// parallel (`Threads.forEachChunk`): for elementwise ops, where each output
    /// element depends only on its own index, so threads cannot change a bit.
    @inlinable
    public init(shape: [Int], eachChunk body: (Range<Int>, UnsafeMutablePointer<Scalar>) -> Void) {
        self.init(shape: shape) { out in
            let base = out.baseAddress
            Threads.forEachChunk(out.count) { r in body(r, base!) }
        }
    }

    /// A rank-0 tensor.
    public init(scalar: Scalar) { self.init(shape: [], scalars: [scalar]) }

    /// The number of axes.
    public var rank: Int { shape.count }
    /// The number of elements (the product of the shape).
    public var count: Int { scalars.count }

    /// The only element of a tensor with one element (a scalar loss).
    public var scalar: Scalar {
        precondition(count == 1, "Tensor.scalar: tensor of shape \(shape) has \(count) elements")
        return scalars[0]
    }

    /// The same scalars under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        guard newShape.allSatisfy({ $0 >= 0 }), newShape.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(op: "reshape", expected: shape, got: newShape,
                                            detail: "element counts \(count) and \(newShape.reduce(1, *)) differ")
        }
        var t = self
        t.shape = newShape
        return t
    }

    /// Converts every element to another scalar type.
    public func converted<U: RefScalar>(to: U.Type = U.self) -> Tensor<U> {
        Tensor<U>(shape: shape, scalars: scalars.map { U(Double($0)) })
    }

    /// Element `index` in row-major order (0 ..< count).
    public subscript(flat index: Int) -> Scalar {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    /// Runs `body` on the elements, which it may change in place (never the count).
    public mutating func withUnsafeMutableScalars<R>(_ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0) }
    }

    /// The element at a multi-index (one index per axis, each in range: a precondition).
    public subscript(index: [Int]) -> Scalar {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "Tensor subscript: index \(index) for shape \(shape)")
        var flat = 0
        for (i, (ix, dim)) in zip(index, shape).enumerated() {
            precondition(ix >= 0 && ix < dim, "Tensor subscript: index \(index) out of range for shape \(shape) at axis \(i)")
            flat = flat * dim + ix
        }
        return flat
    }

    /// The type, shape and first eight elements.
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(Scalar.self)>(shape: \(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }

    /// Throws unless `self.shape == expected`; `op` and `what` name the operand.
    @inlinable
    public func checkShape(_ expected: [Int], op: String, _ what: String) throws {
        if shape != expected {
            throw TensorError.shapeMismatch(op: op, expected: expected, got: shape, detail: what)
        }
    }

    /// Throws unless the rank is `rank`.
    @inlinable
    public func checkRank(_ rank: Int, op: String, _ what: String) throws {
        if shape.count != rank {
            throw TensorError.invalidShape(op: op, shape: shape, detail: "\(what) must have rank \(rank)")
        }
    }
}

extension Tensor {
    /// Largest |a - b| and largest |a - b| / |b| (over elements with b != 0).
    public func maxDifference(_ other: Tensor) -> (absolute: Double, relative: Double) {
        precondition(shape == other.shape, "maxDifference: shapes \(shape) and \(other.shape)")
        var a = 0.0, r = 0.0
        for (x, y) in zip(scalars, other.scalars) {
            let d = abs(Double(x) - Double(y))
            a = Swift.max(a, d)
            if y != 0 { r = Swift.max(r, d / abs(Double(y))) }
            if x.isNaN != y.isNaN { a = .infinity; r = .infinity }
        }
        return (a, r)
    }

    /// True when every element satisfies |a - b| <= atol + rtol * |b| (b = other).
    public func isClose(to other: Tensor, rtol: Double, atol: Double) -> Bool {
        guard shape == other.shape else { return false }
        for (x, y) in zip(scalars, other.scalars) {
            let d = abs(Double(x) - Double(y))
            if !(d <= atol + rtol * abs(Double(y))) { return false }
        }
        return true
    }
}
