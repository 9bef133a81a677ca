import RefSAMConfig
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// A known way of writing the SAM/SGD step differently from the original: the bugs an
/// independent implementation commonly has. `ref-run diagnose` replays a fixture under
/// each and names those whose outputs match the author's.
public enum StepVariant: String, CaseIterable, Sendable {
    case statisticsFromPerturbedPass = "bn-stats-from-perturbed-pass"
    case unbiasedRunningVariance = "unbiased-running-variance"
    case perLayerNorm = "per-layer-gradient-norm"
    case noNormEpsilon = "no-norm-epsilon"
    case unnormalisedAscent = "unnormalised-ascent"
    case weightDecayAtAscentPoint = "weight-decay-at-ascent-point"
    case weightDecayOmitted = "weight-decay-omitted"
    case dampening = "dampening"
    case nesterov = "nesterov"
    case learningRateInTrace = "learning-rate-in-trace"
    case samePadding = "same-padding"
    case optimizerSwapped = "optimizer-swapped"

    /// What the variant computes instead.
    public var summary: String {
        switch self {
        case .statisticsFromPerturbedPass: return "running BatchNorm statistics updated from SAM's second (perturbed) pass, not the first"
        case .unbiasedRunningVariance: return "running variance updated with the unbiased batch variance (n - 1), as PyTorch's BatchNorm does"
        case .perLayerNorm: return "each parameter's perturbation normalised by its own gradient norm, not one global norm"
        case .noNormEpsilon: return "d = g / ||g||, without the + 1e-12 (NaN for a zero gradient)"
        case .unnormalisedAscent: return "ascent point p + rho * g, the gradient not normalised"
        case .weightDecayAtAscentPoint: return "weight decay taken at the ascent point: g + wd * (p + e)"
        case .weightDecayOmitted: return "no weight decay"
        case .dampening: return "trace' = m * trace + (1 - m) * g (PyTorch SGD with dampening = momentum)"
        case .nesterov: return "Nesterov momentum: p' = p - lr * (g + m * trace')"
        case .learningRateInTrace: return "the learning rate inside the trace: trace' = lr * g + m * trace, p' = p - trace'"
        case .samePadding: return "SAME padding where the model pads explicitly (ResNet convolutions)"
        case .optimizerSwapped: return "SGD's step for a SAM fixture, or SAM's for an SGD one"
        }
    }
}

extension StepVariant {
    /// The outputs of the fixture's step computed this variant's way (nil: the original
    /// step), named and ordered as `FixtureReplay.compute` names them. With `sam_shards`
    /// the variant is taken in every shard, as the step takes the original: shard by
    /// shard, or in one pass with shared BatchNorm statistics (ResNet50); the weight-decay
    /// variants per shard, as the mean over shards of g_d + wd (p + e_d).
    /// `inputsMovedBy` as in `FixtureReplay.compute`.
    public static func outputs<T: RefScalar>(_ f: Fixture, _ variant: StepVariant?, _: T.Type, inputsMovedBy rng: RandomGenerator? = nil) throws
        -> [(name: String, tensor: Tensor<T>)] {
        let (state, images, labels) = try f.loadInputs(T.self, movedBy: rng)
        let h = f.step, model = f.model
        do { try TrainStep.checkShards(batch: images.shape.first ?? 0, shards: h.samShards) } catch {
            throw FixtureError.malformed(path: f.directory, reason: "the step cannot run on these inputs: \(error)")   // as verify says
        }
        var optimizer = h.optimizer
        if variant == .optimizerSwapped { optimizer = optimizer == .sam ? .sgd : .sam }
        let r = h.samShards > 1 && model.batchNormSpansShards
            ? try passesWithSharedStatistics(model, state, images, labels, h, optimizer, variant)
            : try passesShardByShard(model, state, images, labels, h, optimizer, variant)
        let e = r.perturbations.isEmpty ? nil : try TrainStep.average(r.perturbations)
        let (grads, trace, params) = try update(state, try TrainStep.average(r.gradients), e, h, variant)
        return try FixtureReplay.ordered(model, imageShape: Array(images.shape.dropFirst()), loss: r.loss, logits: r.logits,
                                         gradsFirst: try TrainStep.average(r.firstGradients), grads: grads, trace: trace,
                                         params: params, batchStats: r.batchStats)
    }

    /// What the passes of a step give, per shard where shards differ.
    struct Passes<T: RefScalar> {
        var loss: T
        var logits: Tensor<T>
        var firstGradients: [TensorTree<T>]
        /// The gradient each shard's update uses (the second pass's under SAM).
        var gradients: [TensorTree<T>]
        /// e_d = ascent point - p (SAM only).
        var perturbations: [TensorTree<T>] = []
        /// The running statistics after the step (averaged over shards).
        var batchStats: TensorTree<T>
    }

    /// Shards that share nothing but the parameters (one shard: the plain step).
    static func passesShardByShard<T: RefScalar>(_ model: Model, _ state: TrainState<T>, _ images: Tensor<T>, _ labels: [Int32],
                                                 _ h: StepHyperparameters, _ optimizer: Optimizer, _ variant: StepVariant?) throws -> Passes<T> {
        let shards = h.samShards
        let padding: Padding? = variant == .samePadding ? .same : nil
        var losses: [T] = [], logits: [Tensor<T>] = [], firsts: [TensorTree<T>] = [], gradients: [TensorTree<T>] = []
        var perturbations: [TensorTree<T>] = [], stats: [TensorTree<T>] = []
        for d in 0..<shards {
            let (x, y) = try TrainStep.shard(d, of: shards, images: images, labels: labels)
            func pass(_ params: TensorTree<T>) throws -> Pass<T> {
                try TrainStep.pass(model, params: params, batchStats: state.batchStats, masks: state.masks, images: x, labels: y,
                                   paddingOverride: padding)
            }
            let first = try pass(state.params)
            var second: Pass<T>? = nil
            if optimizer == .sam {
                let noised = try ascentPoint(state.params, along: first.grads, rho: h.rho, variant)
                second = try pass(noised)
                perturbations.append(try noised.zip(state.params, -))
            }
            losses.append(first.loss); logits.append(first.logits); firsts.append(first.grads)
            gradients.append(second?.grads ?? first.grads)
            stats.append(try runningStatistics(state.batchStats, first: first.batchStats, moments: first.batchMoments,
                                               counts: first.batchCounts, second: second?.batchStats, variant))
        }
        return Passes(loss: shards == 1 ? losses[0] : losses.reduce(0, +) / T(shards),
                      logits: shards == 1 ? logits[0] : try BatchSliceOp.concat(logits), firstGradients: firsts,
                      gradients: gradients, perturbations: perturbations, batchStats: try TrainStep.average(stats))
    }

    /// Shards in one pass with shared BatchNorm statistics, one parameter copy each (ResNet50).
    static func passesWithSharedStatistics<T: RefScalar>(_ model: Model, _ state: TrainState<T>, _ images: Tensor<T>, _ labels: [Int32],
                                                         _ h: StepHyperparameters, _ optimizer: Optimizer,
                                                         _ variant: StepVariant?) throws -> Passes<T> {
        let padding: Padding? = variant == .samePadding ? .same : nil
        func pass(_ copies: [TensorTree<T>]) throws -> TrainStep.ShardedPass<T> {
            try TrainStep.shardedPass(model, copies: copies, batchStats: state.batchStats, masks: state.masks, images: images,
                                      labels: labels, paddingOverride: padding)
        }
        let first = try pass(Array(repeating: state.params, count: h.samShards))
        var second: TrainStep.ShardedPass<T>? = nil, perturbations: [TensorTree<T>] = []
        if optimizer == .sam {
            let noised = try first.grads.map { try ascentPoint(state.params, along: $0, rho: h.rho, variant) }
            second = try pass(noised)
            perturbations = try noised.map { try $0.zip(state.params, -) }
        }
        return Passes(loss: first.losses.reduce(0, +) / T(h.samShards), logits: first.logits, firstGradients: first.grads,
                      gradients: second?.grads ?? first.grads, perturbations: perturbations,
                      batchStats: try runningStatistics(state.batchStats, first: first.batchStats, moments: first.batchMoments,
                                                        counts: first.batchCounts, second: second?.batchStats, variant))
    }

    /// SAM's ascent point p + rho g1 / (||g1|| + 1e-12), or the variant's.
    static func ascentPoint<T: RefScalar>(_ params: TensorTree<T>, along g1: TensorTree<T>, rho: Double,
                                          _ variant: StepVariant?) throws -> TensorTree<T> {
        guard let variant, [.perLayerNorm, .noNormEpsilon, .unnormalisedAscent].contains(variant) else {
            return try TrainStep.perturb(params, along: g1, rho: rho)
        }
        let norm = TrainStep.globalNorm(g1)
        return try params.map { path, p -> Tensor<T> in
            let gp = try g1.require(path, in: "gradient")
            let denominator: T = variant == .perLayerNorm ? T(OptimizerOp.sumOfSquares(gp).squareRoot()) + T(1e-12)
                : variant == .noNormEpsilon ? T(norm) : 1
            return OptimizerOp.ascentPoint(p, gradient: gp, rho: T(rho), denominator: denominator)
        }
    }

    /// The running statistics a pass leaves, or the variant's: the second pass's, or the
    /// variance updated unbiased (n / (n - 1), n the values the moments were taken over).
    static func runningStatistics<T: RefScalar>(_ old: TensorTree<T>, first: TensorTree<T>, moments: TensorTree<T>,
                                                counts: [String: Int], second: TensorTree<T>?,
                                                _ variant: StepVariant?) throws -> TensorTree<T> {
        if variant == .statisticsFromPerturbedPass, let second { return second }
        guard variant == .unbiasedRunningVariance else { return first }
        return try old.map { path, previous -> Tensor<T> in
            guard path.hasSuffix("/var") else { return try first.require(path, in: "batch_stats") }
            let n = Double(counts[String(path.dropLast(4))] ?? 1)
            let v = try moments.require(path, in: "batch moments")
            return Tensor(shape: previous.shape, scalars: zip(previous.scalars, v.scalars).map {
                T(0.9) * $0 + T(0.1) * ($1 * T(n / max(n - 1, 1)))
            })
        }
    }

    /// Weight decay and the momentum update, the original's way or the variant's.
    static func update<T: RefScalar>(_ state: TrainState<T>, _ g: TensorTree<T>, _ e: TensorTree<T>?, _ h: StepHyperparameters,
                                     _ variant: StepVariant?) throws -> (TensorTree<T>, TensorTree<T>, TensorTree<T>) {
        let changesUpdate: Set<StepVariant> = [.weightDecayAtAscentPoint, .weightDecayOmitted, .dampening, .nesterov, .learningRateInTrace]
        guard let variant, changesUpdate.contains(variant) else {
            let r = try TrainStep.momentumUpdate(params: state.params, trace: state.trace, gradient: g, h)
            return (r.grads, r.trace, r.params)
        }
        let (wd, m, lr) = (T(h.weightDecay), T(h.momentum), T(h.learningRate))
        var grads = TensorTree<T>(), trace = TensorTree<T>(), params = TensorTree<T>()
        for (path, p) in state.params.entries {
            let gp = try g.require(path, in: "gradient"), tp = try state.trace.require(path, in: "trace")
            let ep = e?[path]
            var go = [T](), to = [T](), po = [T]()
            for i in 0..<p.count {
                let pi = p.scalars[i], ti = tp.scalars[i]
                var gi = gp.scalars[i]
                switch variant {
                case .weightDecayAtAscentPoint: gi += wd * (pi + (ep?.scalars[i] ?? 0))
                case .weightDecayOmitted: break
                default: gi += wd * pi
                }
                let tNew: T, pNew: T
                switch variant {
                case .dampening: tNew = m * ti + (1 - m) * gi; pNew = pi - lr * tNew
                case .nesterov: tNew = gi + m * ti; pNew = pi - lr * (gi + m * tNew)
                case .learningRateInTrace: tNew = lr * gi + m * ti; pNew = pi - tNew
                default: tNew = gi + m * ti; pNew = pi - lr * tNew
                }
                go.append(gi); to.append(tNew); po.append(pNew)
            }
            grads[path] = Tensor(shape: p.shape, scalars: go)
            trace[path] = Tensor(shape: p.shape, scalars: to)
            params[path] = Tensor(shape: p.shape, scalars: po)
        }
        return (grads, trace, params)
    }
}

/// What `ref-run diagnose` found for one fixture.
public struct Diagnosis: Sendable {
    /// Failing outputs of the original step (0: the fixture passes).
    public var failingAsIs: Int
    /// Outputs compared.
    public var outputs: Int
    /// Each variant that could be computed, with its number of failing outputs and the
    /// first few of them (in computation order), fewest failures first.
    public var variants: [(variant: StepVariant, failing: Int, firstFailures: [String])]
    /// Variants under which every output passes.
    public var matches: [StepVariant] { variants.filter { $0.failing == 0 }.map(\.variant) }

    /// Replays `f` as is and under every variant, at the default tolerance of its dtype
    /// (or `rtol`/`atol` per element, as `Tolerance.resolve`); NaN where the author has
    /// NaN counts as agreement. For a float32 fixture, each variant is computed in
    /// float64 and judged at the conditioned tolerance of its own float32 trials.
    public static func of(_ f: Fixture, rtol: Double? = nil, atol: Double? = nil) throws -> Diagnosis {
        func failing(_ v: StepVariant?) throws -> [String] { try failingOutputs(f, under: v, rtol: rtol, atol: atol) }
        let asIs = try failing(nil).count
        var variants: [(variant: StepVariant, failing: Int, firstFailures: [String])] = []
        for v in StepVariant.allCases {
            let names = try failing(v)
            variants.append((v, names.count, Array(names.prefix(3))))
        }
        return Diagnosis(failingAsIs: asIs, outputs: f.outputs.count, variants: variants.sorted { $0.failing < $1.failing })
    }

    /// The outputs of `f` that fail against `variant`'s step (nil: the original step),
    /// named in computation order, at the tolerance `of` uses.
    public static func failingOutputs(_ f: Fixture, under variant: StepVariant?, rtol: Double? = nil, atol: Double? = nil) throws -> [String] {
        // A variant can change the step's conditioning (the learning rate inside the trace
        // leaves parameters ten times further from their inputs), so a float32 fixture's
        // conditioned tolerance comes from the variant's own float32 trials.
        let results = try FixtureReplay.judge(f, rtol: rtol, atol: atol, nanMatchesNaN: true,
                                              float64: { try StepVariant.outputs(f, variant, Double.self, inputsMovedBy: $0) },
                                              float32: { try StepVariant.outputs(f, variant, Float.self, inputsMovedBy: $0) }).results
        return results.filter { !$0.passed }.map(\.name)
    }
}
