#if CUDA
import RefSAMConfig
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

    // Device state and workspaces (flat, in tree order).
    var params, trace, stats, newParams, newTrace, newStats: UInt64
    let grads1, gradsFirstSum, samGrads, samGradsSum, updateGrads, noised: UInt64
    let shardStats, images, labels, losses, logits, normPartial, norm, denominator, masks: UInt64
    let memory: [DeviceMemory]
    let size = MemoryLayout<T>.stride

    /// A trainer for `model` on batches of `batchSize` images of `imageShape` ([H, W, C]),
    /// starting from `state`. Builds the pass's graph once by recording one CPU forward
    /// pass on a shard of zeros, compiles (or reuses) the kernels, and uploads the state.
    public init(model: Model, state: TrainState<T>, batchSize: Int, imageShape: [Int], _ h: StepHyperparameters) throws {
        guard h.samShards >= 1, batchSize > 0, batchSize % h.samShards == 0 else {
            throw TrainingError.shardsDoNotDivide(batch: batchSize, shards: h.samShards)
        }
        if h.samShards > 1 && model.batchNormSpansShards {
            throw CUDAError.unsupported("BatchNorm statistics shared across sam_shards (ResNet50 with sam_shards > 1) are not implemented on the device")
        }
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
        paramOffsets = Self.offsets(paramShapes)
        paramCount = paramShapes.reduce(0) { $0 + $1.reduce(1, *) }
        statOffsets = Self.offsets(statShapes)
        statCount = statShapes.reduce(0) { $0 + $1.reduce(1, *) }

        // The pass's graph, recorded on the CPU on one shard of zeros.
        let shard = batchSize / h.samShards
        let tape = Tape<T>()
        var vars: [String: Variable] = [:]
        for e in state.params.entries { vars[e.path] = tape.leaf(e.tensor) }
        let b = ModelBuilder<T>(tape: tape, mode: .apply(params: vars, masks: state.masks), batchStats: state.batchStats, train: true)
        let z = try model.forward(b, tape.leaf(.zeros([shard] + imageShape)))
        _ = try tape.softmaxCrossEntropy(logits: z, labels: Array(repeating: 0, count: shard))
        let statIndex = Dictionary(uniqueKeysWithValues: state.batchStats.paths.enumerated().map { ($1, $0) })
        let statOffsetList = Self.offsets(state.batchStats.entries.map(\.tensor.shape))
        var bnStats: [(mean: Int, variance: Int)] = []
        for path in b.batchNormPaths {
            guard let m = statIndex[path + "/mean"], let v = statIndex[path + "/var"] else {
                throw CUDAError.unsupported("batch_stats has no \(path)/mean or \(path)/var")
            }
            bnStats.append((statOffsetList[m], statOffsetList[v]))
        }
        let paramIndex = Dictionary(uniqueKeysWithValues: state.params.paths.enumerated().map { ($1, $0) })
        let paramOffsetList = Self.offsets(state.params.entries.map(\.tensor.shape))
        var maskOffsets: [Int: Int] = [:]
        for path in state.masks.keys { if let i = paramIndex[path] { maskOffsets[i] = paramOffsetList[i] } }

        var owned: [DeviceMemory] = []
        let dev = device
        func alloc(_ n: Int, _ bytes: Int = MemoryLayout<T>.stride) throws -> UInt64 {
            let m = try dev.allocate(n * bytes)
            owned.append(m)
            return m.pointer
        }
        params = try alloc(paramCount); trace = try alloc(paramCount); newParams = try alloc(paramCount); newTrace = try alloc(paramCount)
        grads1 = try alloc(paramCount); gradsFirstSum = try alloc(paramCount); samGrads = try alloc(paramCount)
        samGradsSum = try alloc(paramCount); updateGrads = try alloc(paramCount); noised = try alloc(paramCount)
        stats = try alloc(statCount); newStats = try alloc(statCount); shardStats = try alloc(statCount)
        images = try alloc(batchSize * imageShape.reduce(1, *)); labels = try alloc(batchSize, 4)
        losses = try alloc(h.samShards); logits = try alloc(batchSize * classes)
        normPartial = try alloc(DeviceKernels<T>.normBlocks, 8); norm = try alloc(1, 8); denominator = try alloc(1)
        masks = try alloc(maskOffsets.isEmpty ? 1 : paramCount)
        memory = owned
        graph = try DeviceGraph<T>(dev, nodes: tape.graph, parameterOffsets: paramOffsets, batchNormOffsets: bnStats, maskOffsets: maskOffsets)
        graph.maskBuffer = masks

        try upload(state.params, to: params)
        try upload(state.trace, to: trace)
        try upload(state.batchStats, to: stats)
        if !maskOffsets.isEmpty {
            var flat = [T](repeating: 1, count: paramCount)
            for (path, m) in (state.mask?.entries ?? []) where paramIndex[path] != nil {
                let o = paramOffsetList[paramIndex[path]!]
                for (k, v) in m.scalars.enumerated() { flat[o + k] = v }
            }
            try flat.withUnsafeBytes { try device.upload($0, to: masks) }
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

        let shards = hyper.samShards, shard = batch / shards
        let pixels = imageShape.reduce(1, *)
        for s in 0..<shards {
            let xs = images + UInt64(s * shard * pixels * size), ys = labels + UInt64(s * shard * 4)
            try graph.pass(params: params, images: xs, labels: ys, grads: grads1, lossOut: losses + UInt64(s * size))
            try kernels.copy(graph.value(graph.logits), logits + UInt64(s * shard * classes * size), shard * classes)
            // This shard's running statistics, from its first pass's moments.
            let target = shards == 1 ? newStats : shardStats
            try updateRunningStatistics(into: target)
            if shards > 1 {
                if s == 0 { try kernels.copy(shardStats, newStats, statCount) } else { try kernels.add(newStats, shardStats, newStats, statCount) }
                if s == 0 { try kernels.copy(grads1, gradsFirstSum, paramCount) } else { try kernels.add(gradsFirstSum, grads1, gradsFirstSum, paramCount) }
            }
            var used = grads1
            if hyper.optimizer == .sam {
                try kernels.norm(grads1, paramCount, partial: normPartial, norm: norm, denominator: denominator)
                try kernels.ascentPoint(params, grads1, noised, rho: hyper.rho, denominator: denominator, paramCount)
                try graph.pass(params: noised, images: xs, labels: ys, grads: samGrads, lossOut: normPartial)  // loss discarded
                used = samGrads
            }
            if shards > 1 {
                if s == 0 { try kernels.copy(used, samGradsSum, paramCount) } else { try kernels.add(samGradsSum, used, samGradsSum, paramCount) }
            }
        }
        var gradient = hyper.optimizer == .sam ? samGrads : grads1
        if shards > 1 {
            try kernels.divide(samGradsSum, samGradsSum, by: Double(shards), paramCount)
            try kernels.divide(gradsFirstSum, gradsFirstSum, by: Double(shards), paramCount)
            try kernels.divide(newStats, newStats, by: Double(shards), statCount)
            gradient = samGradsSum
        }
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
        (try download(hyper.samShards > 1 ? gradsFirstSum : grads1, paths: paramPaths, shapes: paramShapes, count: paramCount),
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

    /// The device's name and the architecture the kernels were compiled for.
    public var deviceDescription: String { "\(device.name), kernels for \(device.architecture)" }
}
#endif
