#if CUDA
import RefSAMConfig
import RefSAMData
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// SAM and SGD steps on the GPU, as `TrainStep.run` defines them (docs/FIXTURES.md).
///
/// The state (parameters, momentum trace, BatchNorm statistics, masks) stays on the device
/// between steps; a step uploads its batch once (images, labels), launches every kernel
/// of both passes, the norm, the ascent point and the update with no copy back, and then
/// copies the loss and logits back (and, for `state()`, everything else).
///
/// Per shard (`sam_shards`, shards that share nothing but the parameters):
///     g1 = dL/dp at p (first pass; its BatchNorm moments update the running statistics)
///     SAM: e = p + rho * g1 / (||g1|| + 1e-12) (the norm computed on the device), g = dL/dp at e
///     SGD: g = g1
/// then, over shards: mean g, weight decay and momentum; mean running statistics.
/// For a model whose BatchNorm statistics span the shards (ResNet50), every pass runs all
/// shards at once with one parameter copy per shard, as `TrainStep+SharedStatistics.swift`
/// defines it.
public final class CUDATrainer<T: RefScalar>: ResidentTrainer {
    let device: CUDADevice
    let kernels: DeviceKernels<T>
    /// The model this trainer steps.
    public let model: Model
    var hyper: StepHyperparameters
    let paramPaths: [String], paramShapes: [[Int]], paramOffsets: [Int], paramCount: Int
    let statPaths: [String], statShapes: [[Int]], statOffsets: [Int], statCount: Int
    let batch: Int, imageShape: [Int], classes: Int
    let graph: DeviceGraph<T>
    var step: Int
    let maskTree: TensorTree<T>?
    /// Whether the shards share BatchNorm statistics (one pass over all shards, one parameter copy each).
    let sharedStatistics: Bool

    // Device state and workspaces (flat, in tree order); per parameter copy where a pass has several.
    var params, trace, stats, newParams, newTrace, newStats: UInt64
    let grads1, samGrads, noised: [UInt64]
    let gradsFirstSum, samGradsSum, updateGrads: UInt64
    let shardStats, images, labels, losses, discardedLosses, logits, normPartial, norm, denominator, masks: UInt64
    let memory: [DeviceMemory]
    let size = MemoryLayout<T>.stride
    /// The state the trainer started from, kept for its shapes (recording the evaluation graph).
    let template: TrainState<T>
    /// Evaluation graphs and their image buffers, by batch shape.
    var evaluation: [[Int]: (graph: DeviceGraph<T>, images: DeviceMemory)] = [:]

    /// A trainer for `model` on batches of `batchSize` images of `imageShape` ([H, W, C]),
    /// starting from `state`. Builds the pass's graph once by recording one CPU forward
    /// pass on a shard of zeros, compiles (or reuses) the kernels, and uploads the state.
    public init(model: Model, state: TrainState<T>, batchSize: Int, imageShape: [Int], _ h: StepHyperparameters) throws {
        try TrainStep.checkShards(batch: batchSize, shards: h.samShards)
        sharedStatistics = h.samShards > 1 && model.batchNormSpansShards
        template = state
        device = try CUDADevice.shared(T.self == Float.self ? .float32 : .float64)
        kernels = DeviceKernels(device: device)
        self.model = model
        hyper = h
        step = state.step
        maskTree = state.mask
        batch = batchSize
        self.imageShape = imageShape
        classes = model.numClasses
        (paramPaths, paramShapes) = (state.params.paths, state.params.entries.map(\.tensor.shape))
        (statPaths, statShapes) = (state.batchStats.paths, state.batchStats.entries.map(\.tensor.shape))
        // Locals first: the initialiser's closures may not capture self before it is whole.
        let pOffsets = Self.offsets(paramShapes), sOffsets = Self.offsets(statShapes)
        (paramOffsets, statOffsets) = (pOffsets, sOffsets)
        paramCount = paramShapes.reduce(0) { $0 + $1.reduce(1, *) }
        statCount = statShapes.reduce(0) { $0 + $1.reduce(1, *) }

        // The pass's graph: one shard, or (shared statistics) every shard with its own
        // parameter copy, the loss the sum of the shards' losses.
        let shard = batchSize / h.samShards, copies = sharedStatistics ? h.samShards : 1
        let (tape, b, z) = try Self.record(model, state, copies: copies, batchShape: [copies * shard] + imageShape, train: true)
        if sharedStatistics {
            var total: Variable? = nil
            for d in 0..<copies {
                let l = try tape.softmaxCrossEntropy(logits: tape.sliceBatch(z, start: d * shard, count: shard),
                                                     labels: Array(repeating: 0, count: shard))
                total = try total.map { try tape.add($0, l) } ?? l
            }
        } else {
            _ = try tape.softmaxCrossEntropy(logits: z, labels: Array(repeating: 0, count: shard))
        }
        let bnStats = try Self.statisticsOffsets(b.batchNormPaths, paths: statPaths, offsets: sOffsets)
        let paramIndex = Dictionary(uniqueKeysWithValues: paramPaths.enumerated().map { ($1, $0) })
        let leafBindings = (0..<copies).flatMap { d in pOffsets.map { (copy: d, offset: $0) } }
        var maskOffsets: [Int: Int] = [:]
        for path in state.masks.keys {
            if let i = paramIndex[path] { for d in 0..<copies { maskOffsets[d * pOffsets.count + i] = pOffsets[i] } }
        }

        var owned: [DeviceMemory] = []
        let dev = device
        func alloc(_ n: Int, _ bytes: Int = MemoryLayout<T>.stride) throws -> UInt64 {
            let m = try dev.allocate(n * bytes)
            owned.append(m)
            return m.pointer
        }
        params = try alloc(paramCount); trace = try alloc(paramCount); newParams = try alloc(paramCount); newTrace = try alloc(paramCount)
        var perCopy: [[UInt64]] = [[], [], []]
        for k in 0..<3 { for _ in 0..<copies { perCopy[k].append(try alloc(paramCount)) } }
        (grads1, samGrads, noised) = (perCopy[0], perCopy[1], perCopy[2])
        gradsFirstSum = try alloc(paramCount); samGradsSum = try alloc(paramCount); updateGrads = try alloc(paramCount)
        stats = try alloc(statCount); newStats = try alloc(statCount); shardStats = try alloc(statCount)
        images = try alloc(batchSize * imageShape.reduce(1, *)); labels = try alloc(batchSize, 4)
        losses = try alloc(h.samShards); discardedLosses = try alloc(h.samShards); logits = try alloc(batchSize * classes)
        normPartial = try alloc(DeviceKernels<T>.normBlocks, 8); norm = try alloc(1, 8); denominator = try alloc(1)
        masks = try alloc(maskOffsets.isEmpty ? 1 : paramCount)
        memory = owned
        graph = try DeviceGraph<T>(dev, nodes: tape.graph, leaves: leafBindings, batchNormOffsets: bnStats, maskOffsets: maskOffsets)
        graph.maskBuffer = masks

        try upload(state.params, to: params)
        try upload(state.trace, to: trace)
        try upload(state.batchStats, to: stats)
        if !maskOffsets.isEmpty {
            var flat = [T](repeating: 1, count: paramCount)
            for (path, m) in (state.mask?.entries ?? []) where paramIndex[path] != nil {
                let o = pOffsets[paramIndex[path]!]
                for (k, v) in m.scalars.enumerated() { flat[o + k] = v }
            }
            try flat.withUnsafeBytes { try device.upload($0, to: masks) }
        }
    }

    /// One forward pass of `model` recorded on the CPU on zeros of `batchShape` (the values
    /// are not used, only the ops and shapes): with `copies` parameter copies (shared
    /// statistics) or one, in training or evaluation mode (the latter without masks).
    static func record(_ model: Model, _ state: TrainState<T>, copies: Int, batchShape: [Int], train: Bool) throws
        -> (tape: Tape<T>, builder: ModelBuilder<T>, logits: Variable) {
        let tape = Tape<T>()
        let vars = (0..<copies).map { _ in
            Dictionary(uniqueKeysWithValues: state.params.entries.map { ($0.path, tape.leaf($0.tensor)) })
        }
        let masks = train ? state.masks : [:]
        let b = ModelBuilder<T>(tape: tape, mode: copies > 1 ? .applyPerShard(copies: vars, masks: masks) : .apply(params: vars[0], masks: masks),
                                batchStats: state.batchStats, train: train)
        return (tape, b, try model.forward(b, tape.leaf(.zeros(batchShape))))
    }

    /// The flat offsets of each BatchNorm's `mean` and `var` (by module path, in tape order).
    static func statisticsOffsets(_ batchNorms: [String], paths: [String], offsets: [Int]) throws -> [(mean: Int, variance: Int)] {
        let index = Dictionary(uniqueKeysWithValues: paths.enumerated().map { ($1, $0) })
        return try batchNorms.map { path in
            guard let m = index[path + "/mean"], let v = index[path + "/var"] else {
                throw CUDAError.unsupported("batch_stats has no \(path)/mean or \(path)/var")
            }
            return (offsets[m], offsets[v])
        }
    }

    static func offsets(_ shapes: [[Int]]) -> [Int] {
        var o: [Int] = [], acc = 0
        for s in shapes { o.append(acc); acc += s.reduce(1, *) }
        return o
    }

    func upload(_ tree: TensorTree<T>, to base: UInt64) throws {
        var flat: [T] = []
        flat.reserveCapacity(tree.scalarCount)
        for e in tree.entries { flat += e.tensor.scalars }
        try flat.withUnsafeBytes { try device.upload($0, to: base) }
    }

    func download(_ base: UInt64, paths: [String], shapes: [[Int]], count: Int) throws -> TensorTree<T> {
        var flat = [T](repeating: 0, count: count)
        try flat.withUnsafeMutableBytes { try device.download(base, into: $0) }
        var tree = TensorTree<T>(), o = 0
        for (p, s) in zip(paths, shapes) {
            let n = s.reduce(1, *)
            tree[p] = Tensor(shape: s, scalars: Array(flat[o..<(o + n)]))
            o += n
        }
        return tree
    }

    /// The loss and logits of one step (the first pass's), copied back after it ends.
    public struct StepOutput {
        /// Mean cross-entropy of the first pass (the mean over shards).
        public var loss: T
        /// Logits of the first pass, [N, classes].
        public var logits: Tensor<T>
        /// Fraction of rows whose first maximal logit is the label.
        public var accuracy: Double
    }

    /// The batch shape ([N, H, W, C]) this trainer steps.
    public var batchShape: [Int] { [batch] + imageShape }

    /// `ResidentTrainer`: one step at `learningRate`.
    public func step(images: Tensor<T>, labels: [Int32], learningRate: Double) throws -> (loss: T, accuracy: Double) {
        let out = try step(images: images, labels: labels, learningRate: Optional(learningRate))
        return (out.loss, out.accuracy)
    }

    /// One step on `images` [N, H, W, C] and `labels` (at `learningRate`, or the one the
    /// trainer was made with); the state advances on the device.
    public func step(images x: Tensor<T>, labels y: [Int32], learningRate: Double? = nil) throws -> StepOutput {
        if let learningRate { hyper.learningRate = learningRate }
        guard x.shape == [batch] + imageShape, y.count == batch else {
            throw CUDAError.unsupported("a batch of shape \(x.shape) with \(y.count) labels for a trainer built for \([batch] + imageShape)")
        }
        if let bad = y.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw TensorError.invalidArgument(op: "softmaxCrossEntropy", detail: "label[\(bad)] = \(y[bad]) is outside 0..<\(classes)")
        }
        // The only uploads of the step.
        try x.scalars.withUnsafeBytes { try device.upload($0, to: images) }
        try y.withUnsafeBytes { try device.upload($0, to: labels) }

        let shards = hyper.samShards
        let gradient = sharedStatistics ? try stepWithSharedStatistics() : try stepShardByShard()
        try kernels.momentumUpdate(p: params, trace: trace, g: gradient, (hyper.weightDecay, hyper.momentum, hyper.learningRate),
                                   gOut: updateGrads, traceOut: newTrace, pOut: newParams, paramCount)
        swap(&params, &newParams); swap(&trace, &newTrace); swap(&stats, &newStats)
        step += 1

        // Copied back once the step has ended.
        var lossValues = [T](repeating: 0, count: shards)
        try lossValues.withUnsafeMutableBytes { try device.download(losses, into: $0) }
        var z = [T](repeating: 0, count: batch * classes)
        try z.withUnsafeMutableBytes { try device.download(logits, into: $0) }
        let loss = shards == 1 ? lossValues[0] : lossValues.reduce(0, +) / T(shards)
        let logitsTensor = Tensor(shape: [batch, classes], scalars: z)
        return StepOutput(loss: loss, logits: logitsTensor, accuracy: TrainStep.accuracy(logitsTensor, y))
    }

    /// The shards one after another, each with its own statistics; returns the gradient
    /// for the update (mean over shards). Leaves the mean first-pass gradient in
    /// `gradsFirstSum` (or `grads1[0]`) and the running statistics in `newStats`.
    func stepShardByShard() throws -> UInt64 {
        let shards = hyper.samShards, shard = batch / shards
        let pixels = imageShape.reduce(1, *)
        for s in 0..<shards {
            let xs = images + UInt64(s * shard * pixels * size), ys = labels + UInt64(s * shard * 4)
            try graph.pass(params: [params], images: xs, labels: ys, grads: [grads1[0]], lossOut: losses + UInt64(s * size))
            try kernels.copy(graph.value(graph.logits), logits + UInt64(s * shard * classes * size), shard * classes)
            // This shard's running statistics, from its first pass's moments.
            try updateRunningStatistics(into: shards == 1 ? newStats : shardStats)
            if shards > 1 {
                try accumulate(shardStats, into: newStats, first: s == 0, statCount)
                try accumulate(grads1[0], into: gradsFirstSum, first: s == 0, paramCount)
            }
            var used = grads1[0]
            if hyper.optimizer == .sam {
                try kernels.norm(grads1[0], paramCount, partial: normPartial, norm: norm, denominator: denominator)
                try kernels.ascentPoint(params, grads1[0], noised[0], rho: hyper.rho, denominator: denominator, paramCount)
                try graph.pass(params: [noised[0]], images: xs, labels: ys, grads: [samGrads[0]], lossOut: discardedLosses)
                used = samGrads[0]
            }
            if shards > 1 { try accumulate(used, into: samGradsSum, first: s == 0, paramCount) }
        }
        guard shards > 1 else { return hyper.optimizer == .sam ? samGrads[0] : grads1[0] }
        try kernels.divide(gradsFirstSum, gradsFirstSum, by: Double(shards), paramCount)
        try kernels.divide(newStats, newStats, by: Double(shards), statCount)
        try kernels.divide(samGradsSum, samGradsSum, by: Double(shards), paramCount)
        return samGradsSum
    }

    /// All shards in one pass with one parameter copy each and shared BatchNorm statistics
    /// (`TrainStep+SharedStatistics.swift`); returns the gradient for the update.
    func stepWithSharedStatistics() throws -> UInt64 {
        let shards = hyper.samShards
        try graph.pass(params: Array(repeating: params, count: shards), images: images, labels: labels, grads: grads1, lossOut: losses)
        try kernels.copy(graph.value(graph.logits), logits, batch * classes)
        try updateRunningStatistics(into: newStats)
        var used = grads1
        if hyper.optimizer == .sam {
            for d in 0..<shards {
                try kernels.norm(grads1[d], paramCount, partial: normPartial, norm: norm, denominator: denominator)
                try kernels.ascentPoint(params, grads1[d], noised[d], rho: hyper.rho, denominator: denominator, paramCount)
            }
            // The second pass's statistics are discarded.
            try graph.pass(params: noised, images: images, labels: labels, grads: samGrads, lossOut: discardedLosses)
            used = samGrads
        }
        for d in 0..<shards {
            try accumulate(grads1[d], into: gradsFirstSum, first: d == 0, paramCount)
            try accumulate(used[d], into: samGradsSum, first: d == 0, paramCount)
        }
        try kernels.divide(gradsFirstSum, gradsFirstSum, by: Double(shards), paramCount)
        try kernels.divide(samGradsSum, samGradsSum, by: Double(shards), paramCount)
        return samGradsSum
    }

    /// sum = x (first) or sum + x, in shard order (the CPU's `average` sums in that order).
    func accumulate(_ x: UInt64, into sum: UInt64, first: Bool, _ n: Int) throws {
        if first { try kernels.copy(x, sum, n) } else { try kernels.add(sum, x, sum, n) }
    }

    /// Running statistics after a pass: 0.9 * running + 0.1 * batch moments, per BatchNorm.
    func updateRunningStatistics(into target: UInt64) throws {
        try kernels.copy(stats, target, statCount)
        for (node, offsets) in graph.batchNormStats {
            let w = graph.workspace[node]!, c = graph.nodes[node].shape.last!
            for (moment, offset) in [("mean", offsets.mean), ("var", offsets.variance)] {
                let p = UInt64(offset * size)
                try kernels.runningUpdate(stats + p, w[moment]!, target + p, channels: c, momentum: 0.9)
            }
        }
    }

    /// The state on the device, copied back.
    public func state() throws -> TrainState<T> {
        try TrainState(params: download(params, paths: paramPaths, shapes: paramShapes, count: paramCount),
                       batchStats: download(stats, paths: statPaths, shapes: statShapes, count: statCount),
                       trace: download(trace, paths: paramPaths, shapes: paramShapes, count: paramCount),
                       mask: maskTree, step: step)
    }

    /// The last step's first-pass gradient (mean over shards) and the gradient handed to
    /// the optimizer (with weight decay), copied back.
    public func lastGradients() throws -> (gradsFirst: TensorTree<T>, grads: TensorTree<T>) {
        (try download(hyper.samShards > 1 ? gradsFirstSum : grads1[0], paths: paramPaths, shapes: paramShapes, count: paramCount),
         try download(updateGrads, paths: paramPaths, shapes: paramShapes, count: paramCount))
    }

    /// `TrainStep.run` on the device: one step from `state`, everything copied back.
    public static func run(_ model: Model, state: TrainState<T>, images: Tensor<T>, labels: [Int32], _ h: StepHyperparameters) throws
        -> StepResult<T> {
        let trainer = try CUDATrainer(model: model, state: state, batchSize: images.shape.first ?? 0,
                                      imageShape: Array(images.shape.dropFirst()), h)
        let out = try trainer.step(images: images, labels: labels, learningRate: nil)
        let (g1, g) = try trainer.lastGradients()
        return StepResult(loss: out.loss, logits: out.logits, accuracy: out.accuracy, gradsFirst: g1, grads: g, state: try trainer.state())
    }

    /// A `ResidentTrainerFactory` making CUDA trainers.
    public static func factory(_ model: Model, _ state: TrainState<T>, _ batchShape: [Int], _ h: StepHyperparameters) throws
        -> any ResidentTrainer<T> {
        try CUDATrainer(model: model, state: state, batchSize: batchShape[0], imageShape: Array(batchShape.dropFirst()), h)
    }
}
#endif
