import RefSAMParams
import RefSAMTraining
import RefTensor

/// How far an author's output may be from this reference's.
///
/// Two rules:
/// - `elementwise`: every element within `atol + rtol |b|` of the fixture's value `b`,
///   with this reference computing in the fixture's dtype. The float64 default
///   (rtol 1e-9, atol 1e-12) and whatever `--rtol`/`--atol` ask for.
/// - `conditioned`: the float32 default. Each output `t` gets one absolute bound
///   `B_t = factor * S_t + eps32 * max|x_t|`, compared with the largest error
///   `max_i |a_i - x_i|` against `x`, this reference's **float64** step on the
///   fixture's (float32) inputs. `S_t` is the spread a correct float32 step shows on
///   these very inputs: the largest `|y_i - x_i|` over `trials` float32 steps of this
///   reference, the first on the inputs as given, the others on inputs with every
///   nonzero float element moved one ulp up or down at random and with the float32
///   rounding of BatchNorm's sums emulated (`SummationNoise`: this reference sums them
///   in Double, a float32 framework in float32).
///
/// Why: a backward-stable float32 step returns the exact step of inputs a few units of
/// roundoff away, computed with float32 sums; its forward error is the step's
/// sensitivity to those, which the trials measure on the case at hand. A fixed rtol is
/// wrong both ways: it fails correct code where the step is ill-conditioned (a
/// BatchNorm channel whose variance is tiny beside its squared mean; SAM's second pass
/// re-evaluating ReLU patterns at a point that moved with the first pass's rounding)
/// and lets small bugs through where it is well-conditioned. The bound is normwise (per
/// tensor, in the max norm, as LAPACK states forward errors), since which element
/// carries a rounding error is not stable across implementations. `factor` covers the
/// sampling of a few trials (independent float32 steps measured at up to 2.4 times the
/// spread: docs/FIXTURES.md); the `eps32 * max|x_t|` floor keeps a tensor the trials
/// reproduce exactly from having a zero bound.
public enum Tolerance: Sendable {
    /// `|a - b| <= atol + rtol |b|` per element, `b` the fixture's value.
    case elementwise(rtol: Double, atol: Double)
    /// `max_i |a_i - x_i| <= factor * spread[name] + eps32 * scale[name]` per output,
    /// `x` the float64 step, `scale` its largest magnitude.
    case conditioned(spread: [String: Double], scale: [String: Double], trials: Int, factor: Double)

    /// Trials of the float32 step behind a conditioned tolerance.
    public static let conditionedTrials = 4
    /// The multiple of the trials' spread a correct float32 step may reach.
    public static let conditionedFactor = 4.0

    /// The default for a dtype's fixtures: elementwise rtol 1e-9, atol 1e-12 for
    /// float64; conditioned for float32 (computed from the fixture's inputs).
    public static func `default`(for f: Fixture) throws -> Tolerance {
        f.dtype == .float64 ? .elementwise(rtol: 1e-9, atol: 1e-12) : try conditioned(for: f)
    }

    /// `rtol`/`atol` per element when either is given (the other taking its dtype's
    /// elementwise default: 1e-9/1e-12 for float64, 1e-4/1e-6 for float32), else the default.
    public static func resolve(_ f: Fixture, rtol: Double?, atol: Double?) throws -> Tolerance {
        guard rtol != nil || atol != nil else { return try .default(for: f) }
        let (r, a) = f.dtype == .float64 ? (1e-9, 1e-12) : (1e-4, 1e-6)
        return .elementwise(rtol: rtol ?? r, atol: atol ?? a)
    }

    /// The conditioned tolerance of float32 fixture `f`'s inputs.
    public static func conditioned(for f: Fixture) throws -> Tolerance {
        try FixtureReplay.judge(f, rtol: nil, atol: nil).tolerance
    }

    /// The conditioned tolerance of a step: `exact` its float64 outputs, `step(nil)` its
    /// float32 outputs on the inputs as given, `step(rng)` on inputs moved by `rng`.
    static func conditioned(exact: [(name: String, tensor: Tensor<Double>)], trials: Int = conditionedTrials,
                            factor: Double = conditionedFactor,
                            step: (RandomGenerator?) throws -> [(name: String, tensor: Tensor<Float>)]) throws -> Tolerance {
        let exact = Dictionary(exact.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var spread: [String: Double] = [:]
        for trial in 0..<trials {
            // Trial 0: this reference's float32 step as it is; the others add float32
            // summation error to BatchNorm's sums (`SummationNoise`) on moved inputs.
            let outputs = try trial == 0 ? step(nil) : SummationNoise.scope.withValue(SummationNoise(seed: UInt64(trial))) {
                try step(RandomGenerator(seed: UInt64(trial)))
            }
            for (name, y) in outputs {
                guard let x = exact[name] else { continue }
                spread[name] = max(spread[name] ?? 0, largestDifference(y.converted(to: Double.self), x))
            }
        }
        let scale = exact.mapValues { x in x.scalars.lazy.filter(\.isFinite).map(abs).max() ?? 0 }
        return .conditioned(spread: spread, scale: scale, trials: trials, factor: factor)
    }

    /// max |a_i - b_i| over the elements where both are finite.
    static func largestDifference(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        var m = 0.0
        for (u, v) in zip(a.scalars, b.scalars) where u.isFinite && v.isFinite { m = max(m, abs(u - v)) }
        return m
    }

    /// The error an element `b` of output `name` may have is `absolute + relative |b|`
    /// (nil: the tolerance knows no such output).
    func limits(_ name: String) -> (absolute: Double, relative: Double)? {
        switch self {
        case let .elementwise(rtol, atol): return (atol, rtol)
        case let .conditioned(spread, scale, _, factor):
            guard let s = spread[name], let x = scale[name] else { return nil }
            return (factor * s + Double(Float.ulpOfOne) * x, 0)
        }
    }

    /// One line for reports.
    public var summary: String {
        switch self {
        case let .elementwise(rtol, atol):
            return "rtol \(rtol), atol \(atol) per element (an output passes when error/tol <= 1)"
        case let .conditioned(_, _, trials, factor):
            return "float32 conditioned: per output, max |a - x| <= \(Int(factor)) x the spread of \(trials) float32 steps "
                + "(inputs as given; moved 1 ulp with float32 BatchNorm sums emulated) + eps32 max|x|, x the float64 step "
                + "(an output passes when error/tol <= 1; docs/FIXTURES.md)"
        }
    }
}

extension Tensor {
    /// Every nonzero element moved one ulp up or down, the direction drawn from `rng`
    /// (zeros stay zero: a relative perturbation of an exact zero is none).
    func movedOneUlp(_ rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map { x in
            x == 0 || !x.isFinite ? x : (rng.nextUInt32() & 1 == 0 ? x.nextUp : x.nextDown)
        })
    }
}

extension TensorTree {
    /// Every tensor `movedOneUlp`, in path order.
    func movedOneUlp(_ rng: inout RandomGenerator) -> TensorTree<T> {
        map { _, t in t.movedOneUlp(&rng) }
    }
}
