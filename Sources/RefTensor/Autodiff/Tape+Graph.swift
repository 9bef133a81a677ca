/// A tape's record without its values: what each op computes and from which recorded
/// values (by index), for a backend that replays the same computation elsewhere (the
/// CUDA backend runs a model's forward and backward passes from it).
public struct GraphNode: Sendable {
    /// The value's shape.
    public let shape: [Int]
    /// The op that produced it.
    public let op: GraphOp
}

/// A recorded op; inputs are indices of earlier nodes on the same tape.
public enum GraphOp: Sendable {
    /// An input: a parameter or the images.
    case leaf
    /// y = x @ kernel + bias.
    case dense(x: Int, kernel: Int, bias: Int?)
    /// Cross-correlation, NHWC input, HWIO kernel.
    case conv2d(x: Int, kernel: Int, geometry: ConvGeometry)
    /// Batch norm, with batch statistics in training mode, running statistics otherwise.
    case batchNorm(x: Int, scale: Int, bias: Int, training: Bool)
    /// Batch norm over every shard with one scale and bias per shard.
    case shardedBatchNorm(x: Int, scales: [Int], biases: [Int])
    /// Rows `start ..< start + shape[0]` of the input's batch axis.
    case sliceBatch(Int, start: Int)
    /// The inputs stacked along the batch axis.
    case concatBatch([Int])
    /// max(x, 0).
    case relu(Int)
    /// a + b.
    case add(Int, Int)
    /// x times a constant pruning mask (of the parameter `x`).
    case mask(Int)
    /// Average pool, VALID (the geometry's kernel sizes are the window).
    case avgPool(Int, geometry: ConvGeometry)
    /// Max pool, padding as -infinity.
    case maxPool(Int, geometry: ConvGeometry)
    /// Mean over `axes`.
    case mean(Int, axes: [Int])
    /// The same values in another shape.
    case reshape(Int)
    /// Mean softmax cross-entropy against the recorded labels.
    case softmaxCrossEntropy(logits: Int, labels: [Int32])
    /// A caller-defined op (no other backend can replay it).
    case custom(name: String, inputs: [Int])
}

extension GraphOp {
    /// The indices of the op's inputs (those `Tape.inputs(of:)` gives for the recorded op).
    public var inputs: [Int] {
        switch self {
        case .leaf: return []
        case let .dense(x, k, b): return [x, k] + (b.map { [$0] } ?? [])
        case let .conv2d(x, k, _): return [x, k]
        case let .batchNorm(x, s, b, _): return [x, s, b]
        case let .shardedBatchNorm(x, s, b): return [x] + s + b
        case let .sliceBatch(x, _), let .relu(x), let .mask(x), let .avgPool(x, _), let .maxPool(x, _), let .mean(x, _), let .reshape(x):
            return [x]
        case let .concatBatch(xs): return xs
        case let .add(a, b): return [a, b]
        case let .softmaxCrossEntropy(z, _): return [z]
        case let .custom(_, xs): return xs
        }
    }
}

extension Tape {
    /// Every recorded op, in recording order (a node's index is its `Variable.index`).
    public var graph: [GraphNode] {
        nodes.map { node in
            let op: GraphOp
            switch node.op {
            case .leaf: op = .leaf
            case let .dense(x, k, b): op = .dense(x: x.index, kernel: k.index, bias: b?.index)
            case let .conv2d(x, k, g): op = .conv2d(x: x.index, kernel: k.index, geometry: g)
            case let .batchNorm(x, s, b, _, _, training): op = .batchNorm(x: x.index, scale: s.index, bias: b.index, training: training)
            case let .shardedBatchNorm(x, s, b, _, _): op = .shardedBatchNorm(x: x.index, scales: s.map(\.index), biases: b.map(\.index))
            case let .sliceBatch(x, start): op = .sliceBatch(x.index, start: start)
            case let .concatBatch(xs): op = .concatBatch(xs.map(\.index))
            case let .relu(x): op = .relu(x.index)
            case let .add(a, b): op = .add(a.index, b.index)
            case let .mask(x, _): op = .mask(x.index)
            case let .avgPool(x, window, strides):
                let g = try! PoolOp.geometry(self[x].shape, window: window, strides: strides, padding: .valid, op: "avgPool")
                op = .avgPool(x.index, geometry: g)
            case let .maxPool(x, _, g): op = .maxPool(x.index, geometry: g)
            case let .mean(x, axes): op = .mean(x.index, axes: axes)
            case let .reshape(x): op = .reshape(x.index)
            case let .softmaxCrossEntropy(z, labels, _): op = .softmaxCrossEntropy(logits: z.index, labels: labels)
            case let .custom(name, xs, _): op = .custom(name: name, inputs: xs.map(\.index))
            }
            return GraphNode(shape: node.value.shape, op: op)
        }
    }
}
