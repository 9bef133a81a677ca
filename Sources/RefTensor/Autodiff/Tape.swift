import Foundation

/// A value recorded on a `Tape`: an index into it, plus the tape's identity so a
/// variable from another tape is refused rather than misread.
public struct Variable: Hashable, Sendable, CustomStringConvertible {
    /// Position of the value on its tape (recording order).
    public let index: Int
    let tapeID: Int
    /// `Variable(#index on tape id)`, for error messages.
    public var description: String { "Variable(#\(index) on tape \(tapeID))" }
}

/// Hands out a distinct identity to every tape.
enum TapeIdentity {
    nonisolated(unsafe) private static var last = 0
    private static let lock = NSLock()
    static func next() -> Int {
        lock.lock(); defer { lock.unlock() }
        last += 1
        return last
    }
}

/// Reverse-mode automatic differentiation by recording.
///
/// Every op on a tape computes its value immediately (eager) and records what its
/// gradient rule needs. `gradients(of:withRespectTo:)` walks the record backwards,
/// applying the rules in `Tape+Gradients.swift` (one rule per op) and summing the
/// contributions of a value used more than once (a residual connection).
public final class Tape<T: RefScalar> {
    /// What produced a recorded value, with whatever its gradient rule needs.
    enum Op {
        case leaf
        case dense(x: Variable, kernel: Variable, bias: Variable?)
        case conv2d(x: Variable, kernel: Variable, geometry: ConvGeometry)
        case batchNorm(x: Variable, scale: Variable, bias: Variable, mean: Tensor<T>, invStd: [Double], training: Bool)
        case shardedBatchNorm(x: Variable, scales: [Variable], biases: [Variable], mean: Tensor<T>, invStd: [Double])
        case sliceBatch(Variable, start: Int)
        case concatBatch([Variable])
        case relu(Variable)
        case add(Variable, Variable)
        case mask(Variable, Mask<T>)
        case avgPool(Variable, window: (Int, Int), strides: (Int, Int))
        case maxPool(Variable, argmax: [Int], geometry: ConvGeometry)
        case mean(Variable, axes: [Int])
        case reshape(Variable)
        case softmaxCrossEntropy(logits: Variable, labels: [Int32], logSoftmax: Tensor<T>)
        case custom(name: String, inputs: [Variable], vjp: (Tensor<T>) -> [Tensor<T>])
    }

    struct Node {
        var value: Tensor<T>
        var op: Op
    }

    private(set) var nodes: [Node] = []
    let id: Int

    /// An empty tape with an identity of its own.
    public init() { id = TapeIdentity.next() }

    /// Number of recorded values.
    public var count: Int { nodes.count }

    /// ReLU activation patterns, for Hessian-vector products by differences of gradients
    /// on one smooth piece of a ReLU network (see `LossSurface`).
    public enum ReLUPatterns {
        /// Keep each relu's pattern (1 where its input > 0), in call order, in `recordedReLUPatterns`.
        case record
        /// The k-th relu multiplies its input by the k-th pattern instead of testing its sign.
        case replay([Mask<T>])
    }

    /// nil: relu as usual.
    public var reluPatterns: ReLUPatterns? = nil
    /// Patterns kept under `.record`.
    public private(set) var recordedReLUPatterns: [Tensor<T>] = []
    var replayedReLUs = 0

    func noteReLU(_ x: Tensor<T>) { recordedReLUPatterns.append(Tensor(shape: x.shape, scalars: x.scalars.map { $0 > 0 ? 1 : 0 })) }
    func nextReLUPattern() -> Mask<T>? {
        guard case let .replay(patterns)? = reluPatterns else { return nil }
        defer { replayedReLUs += 1 }
        return replayedReLUs < patterns.count ? patterns[replayedReLUs] : nil
    }

    /// Records an input (a parameter, an image): a value gradients can be taken with respect to.
    public func leaf(_ value: Tensor<T>) -> Variable { record(value, .leaf) }

    /// The value of a recorded variable.
    public subscript(_ v: Variable) -> Tensor<T> {
        precondition(v.tapeID == id && v.index < nodes.count, "\(v) is not recorded on tape \(id)")
        return nodes[v.index].value
    }

    /// The value of a recorded variable, or an error if it belongs elsewhere.
    public func value(_ v: Variable) throws -> Tensor<T> {
        try check(v, "value")
        return nodes[v.index].value
    }

    func record(_ value: Tensor<T>, _ op: Op) -> Variable {
        nodes.append(Node(value: value, op: op))
        return Variable(index: nodes.count - 1, tapeID: id)
    }

    func check(_ v: Variable, _ what: String) throws {
        guard v.tapeID == id, v.index >= 0, v.index < nodes.count else {
            throw TensorError.autodiff("\(what): \(v) was not recorded on this tape (tape \(id))")
        }
    }

    /// Gradient of the scalar `loss` with respect to each of `leaves` (any recorded
    /// variables). A variable that does not reach `loss` gets zeros of its shape.
    ///
    /// - Throws: `TensorError.autodiff` when `loss` has more than one element, or a
    ///   variable was not recorded on this tape.
    public func gradients(of loss: Variable, withRespectTo leaves: [Variable]) throws -> [Tensor<T>] {
        try check(loss, "gradients(of:)")
        for v in leaves { try check(v, "gradients(withRespectTo:)") }
        let lossValue = nodes[loss.index].value
        guard lossValue.count == 1 else {
            throw TensorError.autodiff("gradients(of:): the loss must be a scalar, got shape \(lossValue.shape)")
        }
        // Only values on a path from a requested leaf to the loss need a gradient;
        // rules skip the others (e.g. the gradient with respect to the input image).
        var needed = [Bool](repeating: false, count: loss.index + 1)
        for v in leaves where v.index <= loss.index { needed[v.index] = true }
        for i in 0..<(loss.index + 1) where !needed[i] {
            needed[i] = inputs(of: nodes[i].op).contains { needed[$0.index] }
        }
        let requested = Set(leaves.map(\.index))
        var grads = [Tensor<T>?](repeating: nil, count: loss.index + 1)
        grads[loss.index] = Tensor(repeating: 1, shape: lossValue.shape)
        var i = loss.index
        while i >= 0 {
            if needed[i], var dy = grads[i] {
                // An intermediate's gradient is dead once its rule runs; releasing it
                // first lets a rule update `dy` in place instead of copying it.
                if !requested.contains(i) { grads[i] = nil }
                for (input, g) in try pullback(nodes[i], &dy, needs: { needed[$0.index] }) where needed[input.index] {
                    if let existing = grads[input.index] {
                        grads[input.index] = try ElementwiseOp.add(existing, g, op: "gradient accumulation")
                    } else {
                        grads[input.index] = g
                    }
                }
            }
            i -= 1
        }
        return leaves.map { v in
            if v.index <= loss.index, let g = grads[v.index] { return g }
            return Tensor.zeros(nodes[v.index].value.shape)
        }
    }
}
