import RefSAMParams
import RefTensor

/// Runs a model's forward pass the way Flax's `@compact` modules do: layers are
/// named as they are created (`Dense_0`, `Conv_1`, `ResNetBlock_3`, or an explicit
/// name), their parameters are created on first use when initialising, and looked
/// up by path when applying. One forward function therefore defines the
/// architecture, the parameter names, their shapes and their initialisation.
public final class ModelBuilder<T: RefScalar> {
    /// Whether a pass creates parameters or uses given ones.
    public enum Mode {
        /// Create parameters from the seeded generator (Flax's `model.init`).
        case initialize(RandomGenerator)
        /// Use the given parameter variables (recorded on `tape`), each multiplied by
        /// its mask when it has one (the pruning mask is applied inside the loss).
        case apply(params: [String: Variable], masks: [String: Mask<T>])
        /// One copy of every parameter per shard of the batch (`copies[d]` for rows
        /// `d * N/D ..< (d + 1) * N/D`): each layer applies shard d's copy to shard d's
        /// rows, and BatchNorm takes its statistics over all shards. This is the
        /// original's ResNet50 under `jax.pmap` (BatchNorm `axis_name='batch'`), one
        /// device per shard, each with its own SAM perturbation.
        case applyPerShard(copies: [[String: Variable]], masks: [String: Mask<T>])
    }

    /// The tape the layers record on.
    public let tape: Tape<T>
    /// Training mode (BatchNorm uses batch statistics) or evaluation mode (running statistics).
    public let train: Bool
    let mode: Mode
    /// Running statistics read in evaluation mode (and the base of the update in training mode).
    public let batchStats: TensorTree<T>

    /// Parameters created while initialising.
    public private(set) var createdParams = TensorTree<T>()
    /// Running statistics after this pass: created (mean 0, var 1) when initialising;
    /// in training mode 0.9 * running + 0.1 * batch; in evaluation mode unchanged.
    public private(set) var newBatchStats = TensorTree<T>()
    /// The batch mean and biased variance each BatchNorm took in training mode
    /// (`<path>/mean`, `<path>/var`): what the running statistics are updated with.
    public private(set) var batchMoments = TensorTree<T>()
    /// The module path of each BatchNorm applied (not when initialising), in call order:
    /// the order of the batch-norm ops on the tape, each reading or updating
    /// `<path>/mean` and `<path>/var` of the running statistics.
    public private(set) var batchNormPaths: [String] = []
    /// The number of values each BatchNorm's moments were taken over (N * H * W), by module path.
    public private(set) var batchCounts: [String: Int] = [:]
    /// When set, every convolution uses this padding instead of the model's (a variant
    /// `ref-run diagnose` tries: SAME where the original pads explicitly).
    public var paddingOverride: Padding? = nil

    private var scope: [String] = []
    private var counters: [[String: Int]] = [[:]]

    /// A builder recording on `tape`; `batchStats` are the running statistics to read (apply mode).
    public init(tape: Tape<T>, mode: Mode, batchStats: TensorTree<T> = TensorTree(), train: Bool) {
        self.tape = tape
        self.mode = mode
        self.batchStats = batchStats
        self.train = train
    }

    /// The name of the next submodule of `type` in the current scope (`Dense_0`, `Dense_1`, ...)
    /// unless `name` is given.
    func moduleName(_ type: String, _ name: String?) -> String {
        if let name { return name }
        let n = counters[counters.count - 1][type, default: 0]
        counters[counters.count - 1][type] = n + 1
        return "\(type)_\(n)"
    }

    /// Runs `body` inside the submodule `type_k` (or `name`).
    public func module<R>(_ type: String, name: String? = nil, _ body: () throws -> R) rethrows -> R {
        scope.append(moduleName(type, name))
        counters.append([:])
        defer { scope.removeLast(); counters.removeLast() }
        return try body()
    }

    var currentPath: String { scope.joined(separator: "/") }

    /// The parameter `name` of the current module, created by `initializer` when
    /// initialising: one variable, or one per shard (`Mode.applyPerShard`).
    func param(_ name: String, shape: [Int], _ initializer: (inout RandomGenerator) -> Tensor<T>) throws -> [Variable] {
        let path = currentPath + "/" + name
        switch mode {
        case .initialize(let root):
            guard createdParams[path] == nil else { throw ModelError.duplicateParameter(path: path) }
            var rng = root.derived(path)
            let value = initializer(&rng)
            createdParams[path] = value
            return [tape.leaf(value)]
        case let .apply(params, masks):
            return [try use(params[path], path: path, shape: shape, mask: masks[path])]
        case let .applyPerShard(copies, masks):
            return try copies.map { try use($0[path], path: path, shape: shape, mask: masks[path]) }
        }
    }

    /// A given parameter variable, checked against the shape the layer needs, times its mask.
    private func use(_ v: Variable?, path: String, shape: [Int], mask: Mask<T>?) throws -> Variable {
        guard let v else { throw ModelError.missingParameter(path: path) }
        let value = tape[v]
        guard value.shape == shape else {
            throw ModelError.parameterShape(path: path, expected: shape, got: value.shape)
        }
        if let mask { return try tape.multiply(v, mask: mask) }
        return v
    }

    /// `layer(rows, d)` on each shard's rows with its index, stacked back; with one
    /// shard, `layer(x, 0)` on the whole batch.
    private func perShard(_ x: Variable, _ shards: Int, _ layer: (Variable, Int) throws -> Variable) throws -> Variable {
        guard shards > 1 else { return try layer(x, 0) }
        let n = tape[x].shape.first ?? 0
        guard n % shards == 0 else {
            throw TensorError.invalidShape(op: "perShard", shape: tape[x].shape, detail: "\(n) rows do not split into \(shards) equal shards")
        }
        let per = n / shards
        return try tape.concatBatch((0..<shards).map { d in try layer(tape.sliceBatch(x, start: d * per, count: per), d) })
    }

    // MARK: Layers (Flax defaults)

    /// nn.Dense: kernel lecun_normal [in, out], bias zeros.
    public func dense(_ x: Variable, features: Int, name: String? = nil) throws -> Variable {
        try module("Dense", name: name) {
            let fanIn = tape[x].shape.last ?? 0
            let kernel = try param("kernel", shape: [fanIn, features]) { Initializers.lecunNormal([fanIn, features], fanIn: fanIn, &$0) }
            let bias = try param("bias", shape: [features]) { _ in Tensor.zeros([features]) }
            return try perShard(x, kernel.count) { x, d in try tape.dense(x, kernel: kernel[d], bias: bias[d]) }
        }
    }

    /// nn.Conv without bias: kernel lecun_normal HWIO.
    public func conv(_ x: Variable, features: Int, kernel k: (Int, Int), strides: (Int, Int) = (1, 1),
                     padding: Padding = .same, name: String? = nil) throws -> Variable {
        try module("Conv", name: name) {
            let inC = tape[x].shape.last ?? 0
            let shape = [k.0, k.1, inC, features]
            let w = try param("kernel", shape: shape) { Initializers.lecunNormal(shape, fanIn: k.0 * k.1 * inC, &$0) }
            let padding = paddingOverride ?? padding
            return try perShard(x, w.count) { x, d in try tape.conv2d(x, kernel: w[d], strides: strides, padding: padding) }
        }
    }

    /// nn.BatchNorm(momentum 0.9, epsilon 1e-5) over every axis but the last.
    public func batchNorm(_ x: Variable, scaleInit: Double = 1, name: String? = nil) throws -> Variable {
        try module("BatchNorm", name: name) {
            let c = tape[x].shape.last ?? 0
            let scale = try param("scale", shape: [c]) { _ in Tensor(repeating: T(scaleInit), shape: [c]) }
            let bias = try param("bias", shape: [c]) { _ in Tensor.zeros([c]) }
            let meanPath = currentPath + "/mean", varPath = currentPath + "/var"
            if case .initialize = mode {
                newBatchStats[meanPath] = .zeros([c])
                newBatchStats[varPath] = .ones([c])
            }
            if train {
                let r = scale.count == 1 ? try tape.batchNorm(x, scale: scale[0], bias: bias[0])
                                         : try tape.shardedBatchNorm(x, scales: scale, biases: bias)
                if case .initialize = mode {} else {
                    let momentum = 0.9
                    let oldMean = try batchStats.require(meanPath, in: "batch_stats")
                    let oldVar = try batchStats.require(varPath, in: "batch_stats")
                    batchMoments[meanPath] = r.mean; batchMoments[varPath] = r.variance
                    batchNormPaths.append(currentPath)
                    batchCounts[currentPath] = tape[x].count / max(c, 1)
                    newBatchStats[meanPath] = Self.ema(oldMean, r.mean, momentum)
                    newBatchStats[varPath] = Self.ema(oldVar, r.variance, momentum)
                }
                return r.y
            }
            let mean = try (newBatchStats[meanPath] ?? batchStats.require(meanPath, in: "batch_stats"))
            let variance = try (newBatchStats[varPath] ?? batchStats.require(varPath, in: "batch_stats"))
            if case .initialize = mode {} else {
                newBatchStats[meanPath] = mean; newBatchStats[varPath] = variance
                batchNormPaths.append(currentPath)
            }
            return try perShard(x, scale.count) { x, d in
                try tape.batchNorm(x, scale: scale[d], bias: bias[d], runningMean: mean, runningVariance: variance)
            }
        }
    }

    /// Flax's update, rounded as Flax rounds it: momentum * running + (1 - momentum) * batch.
    static func ema(_ running: Tensor<T>, _ batch: Tensor<T>, _ momentum: Double) -> Tensor<T> {
        let a = T(momentum), b = T(1 - momentum)
        return Tensor(shape: running.shape, scalars: zip(running.scalars, batch.scalars).map { a * $0 + b * $1 })
    }
}

/// Flax's parameter initialisers, drawn from this project's Philox streams.
public enum Initializers {
    /// Standard deviation of a standard normal truncated to (-2, 2).
    public static let truncatedStd = 0.87962566103423978

    /// Flax `lecun_normal`: truncated normal on (-2, 2) scaled by sqrt(1 / fan_in) / 0.8796...
    /// so the variance is 1 / fan_in. Values come from this project's Philox stream, so
    /// they follow the same law as Flax's, not the same bits.
    public static func lecunNormal<T: RefScalar>(_ shape: [Int], fanIn: Int, _ rng: inout RandomGenerator) -> Tensor<T> {
        let std = (1 / Double(max(fanIn, 1))).squareRoot() / truncatedStd
        return rng.truncatedNormalTensor(shape, std: std)
    }
}
