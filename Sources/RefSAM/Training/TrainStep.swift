import RefSAMConfig
import RefSAMModels
import RefSAMParams
import RefTensor

/// One SAM or SGD training step, in parts (a pass, the norm, the ascent point, the
/// momentum update) and whole (`run`), as docs/FIXTURES.md states it.
public enum TrainStep {
    /// loss(p) = mean CE(model(p * mask, images, train), labels) and its gradient w.r.t. p.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func pass<T: RefScalar>(_ model: Model, params: TensorTree<T>, batchStats: TensorTree<T>, mask: TensorTree<T>?,
                                          images: Tensor<T>, labels: [Int32]) throws -> Pass<T> {
        try pass(model, params: params, batchStats: batchStats, masks: masks(mask), images: images, labels: labels)
    }

    /// The masks of a mask tree, prepared once for every pass of a step; all-ones
    /// masks are left out (multiplying by one is exact, so skipping it changes nothing).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func masks<T: RefScalar>(_ tree: TensorTree<T>?) -> [String: Mask<T>] {
        var masks: [String: Mask<T>] = [:]
        for (path, tensor) in tree?.entries ?? [] {
            let m = Mask(tensor)
            if !m.isIdentity { masks[path] = m }
        }
        return masks
    }

    /// `pass` with the masks prepared once (`masks(_:)`), optionally every convolution's
    /// padding replaced (a variant `ref-run diagnose` tries), on `tape` (a new one by
    /// default; a caller may pass one set up for its own use, e.g. `Tape.reluPatterns`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func pass<T: RefScalar>(_ model: Model, params: TensorTree<T>, batchStats: TensorTree<T>, masks: [String: Mask<T>],
                                   images: Tensor<T>, labels: [Int32], paddingOverride: Padding? = nil,
                                   tape: Tape<T> = Tape<T>()) throws -> Pass<T> {
        var vars: [String: Variable] = [:]
        let leaves = params.entries.map { e -> Variable in let v = tape.leaf(e.tensor); vars[e.path] = v; return v }
        let b = ModelBuilder<T>(tape: tape, mode: .apply(params: vars, masks: masks), batchStats: batchStats, train: true)
        b.paddingOverride = paddingOverride
        let logits = try model.forward(b, tape.leaf(images))
        let loss = try tape.softmaxCrossEntropy(logits: logits, labels: labels)
        let grads = try tape.gradients(of: loss, withRespectTo: leaves)
        return Pass(loss: tape[loss].scalar, logits: tape[logits], grads: TensorTree(Array(Swift.zip(params.paths, grads))),
                    batchStats: b.newBatchStats, batchMoments: b.batchMoments, batchCounts: b.batchCounts)
    }

    /// sqrt(sum of squares of every element of every tensor), accumulated in Double.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func globalNorm<T: RefScalar>(_ tree: TensorTree<T>) -> Double {
        var s = 0.0
        for (_, t) in tree.entries { s += OptimizerOp.sumOfSquares(t) }
        return s.squareRoot()
    }

    /// SAM's ascent point: p + rho * g / (||g|| + 1e-12), one norm over every parameter.
    /// A zero gradient gives p itself (never NaN).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func perturb<T: RefScalar>(_ params: TensorTree<T>, along g: TensorTree<T>, rho: Double) throws -> TensorTree<T> {
        let denominator = T(globalNorm(g)) + T(1e-12)
        return try params.map { path, p in
            OptimizerOp.ascentPoint(p, gradient: try g.require(path, in: "gradient"), rho: T(rho), denominator: denominator)
        }
    }

    /// SAM's gradient: the gradient at the ascent point p + rho * g1 / (||g1|| + 1e-12).
    /// The parameters themselves are never modified, so nothing has to be restored.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func samGradient<T: RefScalar>(params: TensorTree<T>, firstGradient g1: TensorTree<T>, rho: Double,
                                                 gradientAt: (TensorTree<T>) throws -> TensorTree<T>) throws -> TensorTree<T> {
        try gradientAt(perturb(params, along: g1, rho: rho))
    }

    /// Weight decay on the unperturbed parameters, then optax.sgd with momentum:
    ///     g' = g + wd * p;  trace' = g' + momentum * trace;  p' = p - lr * trace'
    /// Returns (g', trace', p').
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func momentumUpdate<T: RefScalar>(params: TensorTree<T>, trace: TensorTree<T>, gradient: TensorTree<T>,
                                                    _ h: StepHyperparameters) throws
        -> (grads: TensorTree<T>, trace: TensorTree<T>, params: TensorTree<T>) {
        var (p, t, g) = (params, trace, gradient)
        try momentumUpdate(params: &p, trace: &t, gradient: &g, h)
        return (g, t, p)
    }

    /// The same update written over its inputs: `gradient` becomes g', `trace` trace'
    /// and `params` p'. A tensor shared with another value is copied first (as any
    /// Swift value), so only a caller that owns the state alone saves the copies.
    /// Throws, changing nothing, when a path of `params` is missing from the others.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func momentumUpdate<T: RefScalar>(params: inout TensorTree<T>, trace: inout TensorTree<T>,
                                                    gradient: inout TensorTree<T>, _ h: StepHyperparameters) throws {
        for path in params.paths {
            _ = try trace.require(path, in: "trace")
            _ = try gradient.require(path, in: "gradient")
        }
        let (wd, momentum, lr) = (T(h.weightDecay), T(h.momentum), T(h.learningRate))
        for path in params.paths {
            params.modify(path) { p in trace.modify(path) { t in gradient.modify(path) { g in
                OptimizerOp.momentumStepInPlace(param: &p, trace: &t, gradient: &g, weightDecay: wd, momentum: momentum, learningRate: lr)
            } } }
        }
    }

    /// One training step, as docs/FIXTURES.md states it. `record`, when given, receives
    /// the step's intermediates (`StepRecord`).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func run<T: RefScalar>(_ model: Model, state: TrainState<T>, images: Tensor<T>, labels: [Int32],
                                         _ h: StepHyperparameters, record: StepRecord<T>? = nil) throws -> StepResult<T> {
        var state = state
        return try run(model, state: &state, images: images, labels: labels, h, record: record)
    }

    /// `run`, advancing `state` itself (the result's `state` is the same new state). A
    /// training loop that owns its state alone has its parameters and momentum updated
    /// in their own memory, with no copies; `state` is unchanged when the step throws.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func run<T: RefScalar>(_ model: Model, state: inout TrainState<T>, images: Tensor<T>, labels: [Int32],
                                         _ h: StepHyperparameters, record: StepRecord<T>? = nil) throws -> StepResult<T> {
        let batch = images.shape.first ?? 0
        guard labels.count == batch else { throw TrainingError.labelCount(images: batch, labels: labels.count) }
        try checkShards(batch: batch, shards: h.samShards)
        if h.samShards > 1 && model.batchNormSpansShards {
            return try runWithSharedStatistics(model, state: &state, images: images, labels: labels, h, record: record)
        }
        return try runShardByShard(model, state: &state, images: images, labels: labels, h, record: record)
    }

    /// Shards that share nothing but the parameters: each takes its own BatchNorm
    /// statistics, gradient and perturbation (one shard: the plain step).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func runShardByShard<T: RefScalar>(_ model: Model, state: inout TrainState<T>, images: Tensor<T>, labels: [Int32],
                                              _ h: StepHyperparameters, record: StepRecord<T>? = nil) throws -> StepResult<T> {
        let masks = state.masks
        var first: [Pass<T>] = [], used: [TensorTree<T>] = []
        for s in 0..<h.samShards {
            let (x, y) = try shard(s, of: h.samShards, images: images, labels: labels)
            let p1 = try pass(model, params: state.params, batchStats: state.batchStats, masks: masks, images: x, labels: y)
            first.append(p1)
            switch h.optimizer {
            case .sgd:
                used.append(p1.grads)
            case .sam:
                // The gradient at the ascent point; the second pass's BatchNorm statistics are discarded.
                let noised = try perturb(state.params, along: p1.grads, rho: h.rho)
                let p2 = try pass(model, params: noised, batchStats: state.batchStats, masks: masks, images: x, labels: y)
                used.append(p2.grads)
                try record?.noteSecondPass(params: state.params, noised: noised, moments: p2.batchMoments)
            }
            record?.noteFirstPass(gradient: p1.grads, moments: p1.batchMoments)
        }
        let gradsFirst = try average(first.map(\.grads))
        var samGradient = try average(used)
        used = []                     // the gradient's only holder, so the update can write over it
        if h.optimizer == .sam { record?.samGradient = samGradient }
        let batchStats = try average(first.map(\.batchStats))
        let logits = first.count == 1 ? first[0].logits : try BatchSliceOp.concat(first.map(\.logits))
        let loss = first.count == 1 ? first[0].loss : first.map(\.loss).reduce(0, +) / T(first.count)
        try momentumUpdate(params: &state.params, trace: &state.trace, gradient: &samGradient, h)
        return result(&state, loss: loss, logits: logits, labels: labels, gradsFirst: gradsFirst, grads: samGradient,
                      batchStats: batchStats)
    }

    /// A batch of `batch` rows splits into `shards` equal shards, or the step cannot run.
    package static func checkShards(batch: Int, shards: Int) throws {
        guard shards >= 1, batch > 0, batch % shards == 0 else { throw TrainingError.shardsDoNotDivide(batch: batch, shards: shards) }
    }

    /// Shard `d` of `shards` equal shards of a batch (the batch itself for one shard).
    package static func shard<T: RefScalar>(_ d: Int, of shards: Int, images: Tensor<T>, labels: [Int32]) throws
        -> (images: Tensor<T>, labels: [Int32]) {
        guard shards > 1 else { return (images, labels) }
        let n = images.shape[0] / shards
        return (try BatchSliceOp.slice(images, start: d * n, count: n), Array(labels[(d * n)..<((d + 1) * n)]))
    }

    /// The step's result, `state` (its parameters and momentum already updated) given
    /// `batchStats` and moved one step on.
    static func result<T: RefScalar>(_ state: inout TrainState<T>, loss: T, logits: Tensor<T>, labels: [Int32], gradsFirst: TensorTree<T>,
                                     grads: TensorTree<T>, batchStats: TensorTree<T>) -> StepResult<T> {
        state.batchStats = batchStats; state.step += 1
        return StepResult(loss: loss, logits: logits, accuracy: accuracy(logits, labels), gradsFirst: gradsFirst,
                          grads: grads, state: state)
    }

    /// Fraction of rows whose first maximal logit is the label.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func accuracy<T: RefScalar>(_ logits: Tensor<T>, _ labels: [Int32]) -> Double {
        let k = logits.shape[1]
        var correct = 0
        for i in 0..<labels.count {
            var best = 0
            for j in 1..<k where logits.scalars[i * k + j] > logits.scalars[i * k + best] { best = j }
            if best == Int(labels[i]) { correct += 1 }
        }
        return labels.isEmpty ? 0 : Double(correct) / Double(labels.count)
    }

    /// Mean of trees (the identity for one tree, so one shard changes no bit).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func average<T: RefScalar>(_ trees: [TensorTree<T>]) throws -> TensorTree<T> {
        guard trees.count > 1 else { return trees[0] }
        var sum = trees[0]
        for t in trees.dropFirst() { sum = try sum.zip(t, +) }
        let inv = T(trees.count)
        return sum.map { _, t in Tensor(shape: t.shape, scalars: t.scalars.map { $0 / inv }) }
    }
}
