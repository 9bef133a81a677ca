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
    /// step), named and ordered as `FixtureReplay.compute` names them. Fixtures with
    /// `sam_shards` > 1 are not supported.
    /// `inputsMovedBy` as in `FixtureReplay.compute`.
    public static func outputs<T: RefScalar>(_ f: Fixture, _ variant: StepVariant?, _: T.Type, inputsMovedBy rng: RandomGenerator? = nil) throws
        -> [(name: String, tensor: Tensor<T>)] {
        guard f.step.samShards == 1 else {
            throw FixtureError.malformed(path: f.directory, reason: "diagnose handles fixtures without sam_shards (this one has \(f.step.samShards))")
        }
        let (state, images, labels) = try f.loadInputs(T.self, movedBy: rng)
        let h = f.step, model = f.model
        let padding: Padding? = variant == .samePadding ? .same : nil
        func pass(_ params: TensorTree<T>) throws -> Pass<T> {
            try TrainStep.pass(model, params: params, batchStats: state.batchStats, masks: state.masks, images: images, labels: labels,
                               paddingOverride: padding)
        }
        let first = try pass(state.params)
        var optimizer = h.optimizer
        if variant == .optimizerSwapped { optimizer = optimizer == .sam ? .sgd : .sam }
        var g = first.grads, second: Pass<T>? = nil, e: TensorTree<T>? = nil
        if optimizer == .sam {
            let noised: TensorTree<T>
            if let variant, [.perLayerNorm, .noNormEpsilon, .unnormalisedAscent].contains(variant) {
                let norm = TrainStep.globalNorm(first.grads)
                noised = try state.params.map { path, p -> Tensor<T> in
                    let gp = try first.grads.require(path, in: "gradient")
                    let denominator: T = variant == .perLayerNorm ? T(OptimizerOp.sumOfSquares(gp).squareRoot()) + T(1e-12)
                        : variant == .noNormEpsilon ? T(norm) : 1
                    return OptimizerOp.ascentPoint(p, gradient: gp, rho: T(h.rho), denominator: denominator)
                }
            } else {
                noised = try TrainStep.perturb(state.params, along: first.grads, rho: h.rho)
            }
            second = try pass(noised)
            g = second!.grads
            e = try noised.zip(state.params, -)
        }
        let (grads, trace, params) = try update(state, g, e, h, variant)
        var stats = first.batchStats
        if variant == .statisticsFromPerturbedPass, let second { stats = second.batchStats }
        if variant == .unbiasedRunningVariance {
            stats = try state.batchStats.map { path, old -> Tensor<T> in
                guard path.hasSuffix("/var") else { return try first.batchStats.require(path, in: "batch_stats") }
                let module = String(path.dropLast(4)), n = Double(first.batchCounts[module] ?? 1)
                let v = try first.batchMoments.require(path, in: "batch moments")
                return Tensor(shape: old.shape, scalars: zip(old.scalars, v.scalars).map { T(0.9) * $0 + T(0.1) * ($1 * T(n / max(n - 1, 1))) })
            }
        }
        return try FixtureReplay.ordered(model, imageShape: Array(images.shape.dropFirst()), loss: first.loss, logits: first.logits,
                                         gradsFirst: first.grads, grads: grads, trace: trace, params: params, batchStats: stats)
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
