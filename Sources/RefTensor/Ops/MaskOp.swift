/// A constant elementwise multiplier (a pruning mask), kept with the list of its
/// entries that are not 1 when those are few.
///
/// Contract: `apply` gives exactly `ElementwiseOp.multiply(x, mask)`, bit for bit.
/// `x * 1 == x` for every x, so only the listed entries can change, and each is
/// the same single rounded product `x[i] * mask[i]`. What it saves is memory
/// traffic, the whole cost of a mask on a large layer:
/// - forward, `weights * mask`: in training the pruned weights stay at +-0 (they
///   start there and their gradient is masked), so `x[i] * 0 == x[i]` at every
///   listed i and x itself is returned, sharing its storage;
/// - backward, `dy * mask`: `dy` is a fresh gradient owned by the tape, so the
///   listed entries are overwritten in place.
/// A mask with many non-ones (high sparsity) is applied densely, as before.
public struct Mask<T: RefScalar>: Sendable {
    /// The 0/1 mask itself.
    public let dense: Tensor<T>
    /// Indices where `dense` is not 1, ascending; nil when listing them would not pay.
    public let nonOnes: [Int]?

    /// Masks with more than this fraction of non-ones are applied densely.
    @usableFromInline static var sparseFraction: Int { 16 }

    /// Prepares `mask` (any values; usually 0/1) for repeated use.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public init(_ mask: Tensor<T>) {
        dense = mask
        nonOnes = Self.listNonOnes(mask)
    }

    @inlinable
    static func listNonOnes(_ mask: Tensor<T>) -> [Int]? {
        let limit = mask.count / sparseFraction
        let one = T(1)
        var list: [Int] = []
        let fits = mask.scalars.withUnsafeBufferPointer { m -> Bool in
            // Whole vectors of ones are skipped with one compare (a mask is mostly ones).
            typealias V = T.TileRow
            let raw = UnsafeRawPointer(m.baseAddress!), w = V.scalarCount
            var i = 0
            while i < m.count {
                if i + w <= m.count && raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.stride, as: V.self) == V(repeating: one) {
                    i += w
                    continue
                }
                for j in i..<min(i + w, m.count) where m[j] != one {
                    if list.count == limit { return false }
                    list.append(j)
                }
                i += w
            }
            return true
        }
        return fits ? list : nil
    }

    /// The mask's shape.
    public var shape: [Int] { dense.shape }
    /// Whether multiplying by this mask changes nothing (all ones).
    public var isIdentity: Bool { nonOnes?.isEmpty == true }

    /// x * mask, exactly. Returns x itself when no listed entry changes.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func apply(to x: Tensor<T>, op: String = "multiply(mask:)") throws -> Tensor<T> {
        guard let list = nonOnes else { return try ElementwiseOp.multiply(x, dense, op: op) }
        try dense.checkShape(x.shape, op: op, "mask must match the operand")
        // Equal with the same sign means the same bits (a NaN never compares equal).
        let unchanged = x.scalars.withUnsafeBufferPointer { xp in dense.scalars.withUnsafeBufferPointer { mp in
            for i in list {
                let product: T = xp[i] * mp[i]
                if product != xp[i] || product.sign != xp[i].sign { return false }
            }
            return true
        } }
        if unchanged { return x }
        var y = x
        multiplyListed(&y, list)
        return y
    }

    /// x *= mask, exactly; in place when x's storage is not shared.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func apply(inPlace x: inout Tensor<T>, op: String = "multiply(mask:)") throws {
        guard let list = nonOnes else { x = try ElementwiseOp.multiply(x, dense, op: op); return }
        try dense.checkShape(x.shape, op: op, "mask must match the operand")
        multiplyListed(&x, list)
    }

    func multiplyListed(_ x: inout Tensor<T>, _ list: [Int]) {
        dense.scalars.withUnsafeBufferPointer { mp in
            x.scalars.withUnsafeMutableBufferPointer { xp in for i in list { xp[i] = xp[i] * mp[i] } }
        }
    }
}
