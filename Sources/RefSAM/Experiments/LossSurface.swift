import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// The training loss of a model on a fixed set of examples, as a function of the
/// parameters flattened into one Double vector (tree order, each tensor row-major):
///
///     L(w) = sum over chunks c of (n_c / N) * mean CE(model(w * mask, chunk c), labels)
///
/// Chunks are `chunkSize` consecutive examples (the run's batch size), so a model with
/// BatchNorm sees batch statistics per chunk, in training mode, as SAM's passes do.
/// Weight decay is not part of L (its Hessian is weight_decay * I). Everything is in
/// Double, whatever dtype the run trained in.
public final class LossSurface {
    /// The network.
    public let model: Model
    /// The pruning mask (pruned weights stay out of the function).
    public let mask: TensorTree<Double>?
    /// BatchNorm statistics (unused in training mode).
    public let batchStats: TensorTree<Double>
    /// The layout of the vector: paths and shapes, in tree order.
    public let layout: [(path: String, shape: [Int])]
    /// The examples, in chunks of the run's batch size.
    public let chunks: [(images: Tensor<Double>, labels: [Int32])]
    /// Examples over all chunks.
    public let exampleCount: Int
    /// Gradient evaluations so far (two per Hessian-vector product).
    public private(set) var gradientCount = 0
    let masks: [String: Mask<Double>]

    /// The surface of `model` around `params` (which set the layout) on `chunks`.
    public init(model: Model, params: TensorTree<Double>, batchStats: TensorTree<Double>, mask: TensorTree<Double>?,
                chunks: [(images: Tensor<Double>, labels: [Int32])]) {
        self.model = model; self.batchStats = batchStats; self.mask = mask; self.chunks = chunks
        layout = params.entries.map { ($0.path, $0.tensor.shape) }
        exampleCount = chunks.reduce(0) { $0 + $1.labels.count }
        masks = TrainStep.masks(mask)
    }

    /// Number of parameters (the vector's length).
    public var dimension: Int { layout.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// The tree's tensors end to end, in tree order.
    public static func flatten(_ tree: TensorTree<Double>) -> [Double] { tree.entries.flatMap { $0.tensor.scalars } }

    /// The vector back as a tree of the layout's shapes.
    public func tree(_ w: [Double]) -> TensorTree<Double> {
        precondition(w.count == dimension, "vector of \(w.count), surface of \(dimension)")
        var start = 0
        return TensorTree(layout.map { entry in
            let n = entry.shape.reduce(1, *)
            defer { start += n }
            return (entry.path, Tensor(shape: entry.shape, scalars: Array(w[start..<start + n])))
        })
    }

    /// L(w) and its gradient.
    public func lossAndGradient(_ w: [Double]) throws -> (loss: Double, gradient: [Double]) {
        try lossAndGradient(w, chunks: chunks.indices)
    }

    /// The loss and gradient over the given chunks only (weighted by their examples).
    public func lossAndGradient(_ w: [Double], chunks selected: Range<Int>) throws -> (loss: Double, gradient: [Double]) {
        try lossAndGradient(w, chunks: selected, patterns: nil)
    }

    /// `patterns`: nil, `.record` (keep each chunk's ReLU patterns in `recorded`) or
    /// the recorded patterns of every chunk, replayed.
    func lossAndGradient(_ w: [Double], chunks selected: Range<Int>, patterns: PatternUse?) throws -> (loss: Double, gradient: [Double]) {
        let params = tree(w)
        let total = Double(chunks[selected].reduce(0) { $0 + $1.labels.count })
        var loss = 0.0, gradient = [Double](repeating: 0, count: w.count)
        for c in selected {
            let chunk = chunks[c]
            let tape = Tape<Double>()
            switch patterns {
            case nil: break
            case .record: tape.reluPatterns = .record
            case let .replay(all): tape.reluPatterns = .replay(all[c])
            }
            let p = try TrainStep.pass(model, params: params, batchStats: batchStats, masks: masks, images: chunk.images,
                                       labels: chunk.labels, tape: tape)
            if case .record? = patterns { recorded.append(tape.recordedReLUPatterns.map { Mask($0) }) }
            let weight = Double(chunk.labels.count) / total
            loss += weight * p.loss
            var i = 0
            for (_, g) in p.grads.entries { for x in g.scalars { gradient[i] += weight * x; i += 1 } }
        }
        gradientCount += 1
        return (loss, gradient)
    }

    enum PatternUse { case record, replay([[Mask<Double>]]) }
    /// Each chunk's ReLU patterns at `patternPoint`.
    var recorded: [[Mask<Double>]] = []
    var patternPoint: [Double] = []

    /// The ReLU patterns of every chunk at w (computed once per point).
    func patterns(at w: [Double]) throws -> [[Mask<Double>]] {
        if w == patternPoint && recorded.count == chunks.count { return recorded }
        recorded = []
        _ = try lossAndGradient(w, chunks: chunks.indices, patterns: .record)
        patternPoint = w
        return recorded
    }

    /// L(w) alone (the forward passes; the gradient is computed and dropped).
    public func loss(_ w: [Double], chunks selected: Range<Int>) throws -> Double { try lossAndGradient(w, chunks: selected).loss }

    /// The default step t of `hessianVectorProduct`.
    public static let differenceStep = 1e-5

    /// H(w) v by central differences of gradients on the smooth piece that holds w:
    ///     (grad L(w + t u) - grad L(w - t u)) / (2t) * |v|,   u = v / |v|,
    /// with every ReLU's activation pattern frozen at its pattern at w (`Tape.reluPatterns`),
    /// so that no unit switching on or off within t of w puts a jump into the quotient:
    /// the result is the Hessian of the network as it is at w (what autodiff's Hessian,
    /// with ReLU'' = 0, gives). Error O(t^2) from the third derivative plus
    /// O(eps |grad| / t) from rounding; t = 1e-5 balances them (checked against the exact
    /// Hessian of a small MLP to 1e-6 relative in HessianTests). Max pooling (ResNet50)
    /// is not frozen: a window whose maximum changes within t adds an error.
    public func hessianVectorProduct(_ w: [Double], _ v: [Double], step t: Double = differenceStep) throws -> [Double] {
        let norm = Vector.norm(v)
        guard norm > 0 else { return [Double](repeating: 0, count: v.count) }
        let frozen = try patterns(at: w)
        var plus = w, minus = w
        for i in w.indices { let d = t * v[i] / norm; plus[i] += d; minus[i] -= d }
        let gp = try lossAndGradient(plus, chunks: chunks.indices, patterns: .replay(frozen)).gradient
        let gm = try lossAndGradient(minus, chunks: chunks.indices, patterns: .replay(frozen)).gradient
        let scale = norm / (2 * t)
        return gp.indices.map { (gp[$0] - gm[$0]) * scale }
    }
}

/// Dense vector helpers, accumulated in Double.
public enum Vector {
    /// sum a_i b_i.
    public static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for i in a.indices { s += a[i] * b[i] }
        return s
    }
    /// sqrt(a . a).
    public static func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
    /// k a.
    public static func scaled(_ a: [Double], _ k: Double) -> [Double] { a.map { $0 * k } }
    /// a + k * b
    public static func adding(_ a: [Double], _ k: Double, _ b: [Double]) -> [Double] { a.indices.map { a[$0] + k * b[$0] } }
}
