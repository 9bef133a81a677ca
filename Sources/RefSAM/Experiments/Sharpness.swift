import Foundation
import RefSAMData
import RefSAMParams
import RefSAMRun
import RefSAMTraining
import RefTensor

/// `ref-run sharpness`: the Hessian measures of `HessianMeasures` at a trained state,
/// on the first examples of the run's training set (with its label noise, in order,
/// unaugmented), in Double.
public enum Sharpness {
    /// How much work each measure does.
    public struct Options: Sendable {
        /// Power iterations at most.
        public var powerIterations = 100
        /// Hutchinson's probes.
        public var traceProbes = 20
        /// SLQ start vectors.
        public var slqProbes = 3
        /// Lanczos steps per start.
        public var lanczosSteps = 30
        /// Seeds the probe vectors.
        public var seed: UInt64 = 0
        /// The defaults.
        public init() {}
    }

    /// The loss surface of `state` on `data` (the run's training examples).
    public static func surface(spec: RunSpec, state: TrainState<Double>, data: ImageDataset) throws -> LossSurface {
        let noisy = try spec.trainPipeline(data, Double.self).pipeline.labels
        let pipeline = DataPipeline<Double>(dataset: data, batchSize: spec.batchSize, train: false, seed: spec.seed, labels: noisy)
        let order = pipeline.order(epoch: 0)
        let chunks = (0..<pipeline.batchesPerEpoch).map { pipeline.batch(epoch: 0, index: $0, order: order) }
        return LossSurface(model: spec.model, params: state.params, batchStats: state.batchStats, mask: state.mask, chunks: chunks)
    }

    /// Every measure at the state's parameters. `progress` receives a line per stage.
    public static func measure(_ s: LossSurface, params: TensorTree<Double>, rho: Double, options: Options, label: String,
                               checkpoint: String, progress: ((String) -> Void)? = nil) throws -> SharpnessReport {
        let started = Date()
        let w = LossSurface.flatten(params)
        var rng = RandomGenerator(seed: options.seed).derived("sharpness")
        let (loss, g) = try s.lossAndGradient(w)
        progress?(String(format: "loss %.6g, gradient norm %.4g on %d examples, %d parameters", loss, Vector.norm(g), s.exampleCount, w.count))
        let top = try HessianMeasures.largestEigenvalue(s, at: w, iterations: options.powerIterations, rng: &rng)
        progress?(String(format: "lambda_max %.6g (%d power iterations", top.value, top.iterations) + (top.converged ? ")" : ", not converged)"))
        let tr = try HessianMeasures.trace(s, at: w, probes: options.traceProbes, rng: &rng)
        progress?(String(format: "trace %.6g +- %.2g (%d probes)", tr.value, tr.standardError, options.traceProbes))
        var quadratures: [(nodes: [Double], weights: [Double])] = []
        for _ in 0..<options.slqProbes {
            let z = HessianMeasures.rademacher(w.count, &rng)
            quadratures.append(try HessianMeasures.lanczos(s, at: w, start: z, steps: options.lanczosSteps))
        }
        let moments = quadratures.isEmpty ? [] : HessianMeasures.moments(quadratures, powers: 4)
        if let lo = quadratures.flatMap(\.nodes).min(), let hi = quadratures.flatMap(\.nodes).max() {
            progress?(String(format: "Lanczos nodes span [%.4g, %.4g] (their extremes approach H's)", lo, hi))
        }
        progress?("tr(H^k)/n, k = 1...4: " + moments.map { String(format: "%.4g", $0) }.joined(separator: ", "))
        let sharp = try HessianMeasures.mSharpness(s, at: w, rho: rho)
        progress?(String(format: "m-sharpness %.6g (rho %g, m %d)", sharp, rho, s.chunks.first?.labels.count ?? 0))
        return SharpnessReport(label: label, checkpoint: checkpoint, examples: s.exampleCount, parameters: w.count, loss: loss,
                               gradientNorm: Vector.norm(g), lambdaMax: top.value, powerIterations: top.iterations,
                               powerConverged: top.converged, trace: tr.value, traceStandardError: tr.standardError,
                               traceProbes: options.traceProbes, moments: moments, slqNodes: quadratures.map(\.nodes),
                               slqWeights: quadratures.map(\.weights), rho: rho, m: s.chunks.first?.labels.count ?? 0,
                               mSharpness: sharp, hvpStep: LossSurface.differenceStep, gradientEvaluations: s.gradientCount,
                               seconds: Date().timeIntervalSince(started))
    }

    /// The spectral density of SLQ quadratures, each node broadened by a Gaussian of
    /// width `sigma`, on `points` values from `low` to `high` (averaged over starts).
    public static func density(_ r: SharpnessReport, low: Double, high: Double, sigma: Double, points: Int = 400) -> [(Double, Double)] {
        (0..<points).map { i in
            let x = low + (high - low) * Double(i) / Double(points - 1)
            var d = 0.0
            for (nodes, weights) in zip(r.slqNodes, r.slqWeights) {
                for (t, wt) in zip(nodes, weights) { d += wt * exp(-(x - t) * (x - t) / (2 * sigma * sigma)) }
            }
            return (x, d / (Double(max(r.slqNodes.count, 1)) * sigma * (2 * Double.pi).squareRoot()))
        }
    }

    /// spectra.svg: the densities of several reports on one chart (log y).
    public static func spectraFigure(_ reports: [SharpnessReport], title: String) -> String {
        let all = reports.flatMap { $0.slqNodes.flatMap { $0 } }
        let low = all.min() ?? -1, high = all.max() ?? 1
        let span = max(high - low, 1e-12)
        let sigma = span / 100
        var chart = SVGChart(title: title, xLabel: "Hessian eigenvalue", yLabel: "spectral density (SLQ, Gaussian-broadened)", yLog: true)
        chart.subtitle = String(format: "broadening sigma = %.3g (1%% of the range)", sigma)
        for (i, r) in reports.enumerated() {
            let curve = density(r, low: low - 0.05 * span, high: high + 0.05 * span, sigma: sigma)
            let peak = curve.map(\.1).max() ?? 0
            // Densities below 1e-7 of the peak are drawn at that floor (a log axis has no zero).
            let pts = curve.map { SVGChart.Point(x: $0.0, y: max($0.1, peak * 1e-7)) }
            chart.series.append(.init(name: r.label + String(format: " (max %.3g)", r.lambdaMax), points: pts,
                                      color: SVGChart.palette[i % SVGChart.palette.count], markers: false))
        }
        return chart.render()
    }
}
