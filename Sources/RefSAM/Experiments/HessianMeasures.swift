import Foundation
import RefTensor

/// Sharpness of a loss surface at w, from Hessian-vector products (`LossSurface`):
///
/// - the largest-magnitude Hessian eigenvalue by power iteration;
/// - Hutchinson's trace estimate, tr(H) ~ mean of z'Hz over Rademacher z;
/// - stochastic Lanczos quadrature (SLQ): m Lanczos steps from a normalised Rademacher
///   start give nodes theta_k and weights tau_k with z'f(H)z ~ sum tau_k f(theta_k), so
///   tr(H^j)/n ~ mean over starts of sum tau_k theta_k^j, and the nodes spread the spectrum;
/// - m-sharpness: the mean over chunks of L_c(w + e_c) - L_c(w), e_c = rho g_c/(|g_c| + 1e-12),
///   SAM's own one-step maximiser of the loss within radius rho (chunks of the run's batch size).
public enum HessianMeasures {
    /// Power iteration from a seeded normal vector; stops when the Rayleigh quotient
    /// changes by less than `tolerance` (relative) or after `iterations`.
    public static func largestEigenvalue(_ s: LossSurface, at w: [Double], iterations: Int, tolerance: Double = 1e-4,
                                         rng: inout RandomGenerator) throws -> (value: Double, iterations: Int, converged: Bool) {
        var v = (0..<w.count).map { _ in rng.normal() }
        v = Vector.scaled(v, 1 / Vector.norm(v))
        var lambda = 0.0
        for k in 1...max(iterations, 1) {
            let hv = try s.hessianVectorProduct(w, v)
            let next = Vector.dot(v, hv)
            let n = Vector.norm(hv)
            if n == 0 { return (0, k, true) }
            v = Vector.scaled(hv, 1 / n)
            if k > 1 && abs(next - lambda) <= tolerance * abs(next) { return (next, k, true) }
            lambda = next
        }
        return (lambda, iterations, false)
    }

    /// A vector of `count` independent +-1 entries.
    public static func rademacher(_ count: Int, _ rng: inout RandomGenerator) -> [Double] {
        (0..<count).map { _ in rng.nextUInt32() & 1 == 0 ? -1.0 : 1.0 }
    }

    /// Hutchinson: mean and standard error of z'Hz over `probes` Rademacher vectors.
    public static func trace(_ s: LossSurface, at w: [Double], probes: Int, rng: inout RandomGenerator) throws
        -> (value: Double, standardError: Double) {
        var samples: [Double] = []
        for _ in 0..<probes {
            let z = rademacher(w.count, &rng)
            samples.append(Vector.dot(z, try s.hessianVectorProduct(w, z)))
        }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.count > 1 ? samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1) : .nan
        return (mean, (variance / Double(samples.count)).squareRoot())
    }

    /// One Lanczos quadrature from the unit vector `start`: `steps` steps with full
    /// reorthogonalisation; nodes (eigenvalues of the tridiagonal matrix, ascending) and
    /// weights (squared first components of its eigenvectors; they sum to 1).
    public static func lanczos(_ s: LossSurface, at w: [Double], start: [Double], steps: Int) throws
        -> (nodes: [Double], weights: [Double]) {
        var basis = [Vector.scaled(start, 1 / Vector.norm(start))]
        var alphas: [Double] = [], betas: [Double] = []
        for j in 0..<min(steps, w.count) {
            var z = try s.hessianVectorProduct(w, basis[j])
            let alpha = Vector.dot(basis[j], z)
            alphas.append(alpha)
            for _ in 0..<2 {   // twice is enough (Parlett's "twice is enough")
                for q in basis { let c = Vector.dot(q, z); for i in z.indices { z[i] -= c * q[i] } }
            }
            let beta = Vector.norm(z)
            if j == steps - 1 || beta <= 1e-10 * max(abs(alpha), 1e-300) { break }
            betas.append(beta)
            basis.append(Vector.scaled(z, 1 / beta))
        }
        let m = alphas.count
        var t = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        for i in 0..<m {
            t[i][i] = alphas[i]
            if i + 1 < m { t[i][i + 1] = betas[i]; t[i + 1][i] = betas[i] }
        }
        let (values, vectors) = SymmetricEigen.decompose(t)
        return (values, vectors.map { $0[0] * $0[0] })
    }

    /// Mean over chunks of L_c(w + rho g_c / (|g_c| + 1e-12)) - L_c(w).
    public static func mSharpness(_ s: LossSurface, at w: [Double], rho: Double) throws -> Double {
        var total = 0.0
        for c in s.chunks.indices {
            let (loss, g) = try s.lossAndGradient(w, chunks: c..<c + 1)
            let k = rho / (Vector.norm(g) + 1e-12)
            total += try s.loss(Vector.adding(w, k, g), chunks: c..<c + 1) - loss
        }
        return total / Double(s.chunks.count)
    }

    /// tr(H^j)/n for j = 1...powers from SLQ quadratures (one per start vector).
    public static func moments(_ quadratures: [(nodes: [Double], weights: [Double])], powers: Int) -> [Double] {
        (1...powers).map { j in
            quadratures.map { q in zip(q.nodes, q.weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(j)) } }.reduce(0, +)
                / Double(quadratures.count)
        }
    }
}

/// Everything `ref-run sharpness` measures at one checkpoint (written as JSON).
public struct SharpnessReport: Codable, Sendable {
    /// A name for the figures (e.g. "SAM [300,100]").
    public var label: String
    /// The checkpoint file measured.
    public var checkpoint: String
    /// Training examples the loss is taken over.
    public var examples: Int
    /// Length of the parameter vector.
    public var parameters: Int
    /// L(w): mean cross-entropy on the examples (no weight decay).
    public var loss: Double
    /// |grad L(w)|.
    public var gradientNorm: Double
    /// Largest-magnitude eigenvalue (power iteration).
    public var lambdaMax: Double
    /// Power iterations run.
    public var powerIterations: Int
    /// Whether the Rayleigh quotient settled within the tolerance.
    public var powerConverged: Bool
    /// Hutchinson's estimate of tr(H) and its standard error.
    public var trace: Double
    /// Standard error of `trace` (sample deviation / sqrt(probes)).
    public var traceStandardError: Double
    /// Rademacher probes behind `trace`.
    public var traceProbes: Int
    /// tr(H^j)/n, j = 1...4, from SLQ.
    public var moments: [Double]
    /// SLQ quadratures: nodes and weights per start vector.
    public var slqNodes: [[Double]]
    /// The quadrature weights of each start (each set sums to 1).
    public var slqWeights: [[Double]]
    /// SAM's radius used for `mSharpness` (the config's rho).
    public var rho: Double
    /// Examples per chunk for m-sharpness (the run's batch size).
    public var m: Int
    /// Mean over chunks of L(w + rho g/|g|) - L(w).
    public var mSharpness: Double
    /// The central-difference step of the Hessian-vector products.
    public var hvpStep: Double
    /// Gradients computed (two per Hessian-vector product).
    public var gradientEvaluations: Int
    /// Wall-clock seconds of the measurement.
    public var seconds: Double

    /// How reports write NaN and infinities (JSON has neither): as the strings "nan", "inf", "-inf".
    public static let nonFinite = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    /// How reports read them back.
    public static let nonFiniteDecoding = JSONDecoder.NonConformingFloatDecodingStrategy.convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

    /// The largest SLQ node: a Lanczos estimate of the largest eigenvalue, a check on `lambdaMax`.
    public var lanczosMax: Double? { slqNodes.flatMap { $0 }.max() }
    /// The smallest SLQ node (the most negative curvature found).
    public var lanczosMin: Double? { slqNodes.flatMap { $0 }.min() }
}
