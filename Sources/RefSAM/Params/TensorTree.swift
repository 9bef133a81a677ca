import RefTensor

/// An ordered map from Flax paths (`Dense_0/kernel`, `ResNetBlock_2/conv_proj/kernel`)
/// to tensors, in creation order (Flax's order). One tree holds one collection:
/// `params`, `batch_stats`, the momentum `trace`, or a pruning `mask`.
public struct TensorTree<T: RefScalar>: Equatable, Sendable {
    /// The paths, in creation order.
    public private(set) var paths: [String] = []
    @usableFromInline var storage: [String: Tensor<T>] = [:]

    /// An empty tree.
    public init() {}

    /// A tree of `pairs`, in their order (a repeated path keeps its first position and its last tensor).
    public init(_ pairs: [(String, Tensor<T>)]) {
        for (p, t) in pairs { self[p] = t }
    }

    /// The tensor at `path`; setting nil removes it, setting a new path appends it.
    public subscript(path: String) -> Tensor<T>? {
        get { storage[path] }
        set {
            if let v = newValue {
                if storage.updateValue(v, forKey: path) == nil { paths.append(path) }
            } else if storage.removeValue(forKey: path) != nil {
                paths.removeAll { $0 == path }
            }
        }
    }

    /// Runs `body` on the tensor at `path` in place (nil, and `body` not run, when the
    /// path is absent): an unshared tensor is then changed in its own memory.
    @discardableResult
    public mutating func modify<R>(_ path: String, _ body: (inout Tensor<T>) throws -> R) rethrows -> R? {
        guard storage[path] != nil else { return nil }
        return try body(&storage[path]!)
    }

    /// True when the tree holds no tensor.
    public var isEmpty: Bool { paths.isEmpty }
    /// The number of tensors.
    public var count: Int { paths.count }
    /// (path, tensor) in order.
    public var entries: [(path: String, tensor: Tensor<T>)] { paths.map { ($0, storage[$0]!) } }
    /// Total number of scalars.
    public var scalarCount: Int { storage.values.reduce(0) { $0 + $1.count } }

    /// The tensor at `path`, or an error naming the missing path.
    public func require(_ path: String, in what: String = "tree") throws -> Tensor<T> {
        guard let t = storage[path] else { throw TreeError.missing(path: path, in: what) }
        return t
    }

    /// Applies `f` to every tensor, keeping paths and order.
    public func map(_ f: (String, Tensor<T>) throws -> Tensor<T>) rethrows -> TensorTree<T> {
        var out = TensorTree()
        for p in paths { out[p] = try f(p, storage[p]!) }
        return out
    }

    /// Combines two trees with the same paths elementwise. Always inlined, so `f` is
    /// inlined into the loop at each call site (a closure call per element is slow).
    @inlinable
    public func zip(_ other: TensorTree<T>, _ f: (T, T) -> T) throws -> TensorTree<T> {
        guard Set(paths) == Set(other.paths) else {
            throw TreeError.structure("trees differ: \(Set(paths).symmetricDifference(other.paths).sorted())")
        }
        return try map { p, a in
            let b = other.storage[p]!
            guard a.shape == b.shape else {
                throw TensorError.shapeMismatch(op: "tree zip", expected: a.shape, got: b.shape, detail: p)
            }
            var r = a
            b.scalars.withUnsafeBufferPointer { bp in
                r.withUnsafeMutableScalars { rp in for i in rp.indices { rp[i] = f(rp[i], bp[i]) } }
            }
            return r
        }
    }

    /// Zeros of the same structure.
    public var zeros: TensorTree<T> { map { _, t in Tensor.zeros(t.shape) } }
}

/// A tree lacks a path, or two trees differ in structure.
public enum TreeError: Error, CustomStringConvertible, Equatable {
    case missing(path: String, in: String)
    case structure(String)
    /// One line naming the path or the difference.
    public var description: String {
        switch self {
        case let .missing(path, what): return "\(what): no tensor at '\(path)'"
        case let .structure(s): return s
        }
    }
}
