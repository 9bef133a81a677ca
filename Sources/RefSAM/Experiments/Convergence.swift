import Foundation
import RefSAMData
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// The convergence experiment (`ref-run converge`): a two-layer ReLU network of width m,
/// f(x) = Dense(ReLU(Dense(x))) as the MLP with `num_neurons = [m]`, fit to n examples
/// with one-hot targets under the squared loss
///
///     L(w) = 1/(2n) sum_i |f(x_i) - y_i|^2,
///
/// which has interpolating solutions (zero loss) once the parameters outnumber the n*10
/// targets. Plain steps with a fixed rate, no momentum, no weight decay, in Double:
///
///   - `gd`:   w <- w - lr grad L_B(w)
///   - `sam`:  w <- w - lr grad L_B(w + rho g/(|g| + 1e-12)), g = grad L_B(w) (SAM as trained)
///   - `usam`: w <- w - lr grad L_B(w + rho g)   (the unnormalised ascent of the convergence analyses)
///
/// L_B is the loss on the step's batch (all n examples when the batch is n, else a
/// seeded shuffle per epoch). The full training loss is recorded every `recordEvery` steps.
public enum Convergence {
    /// The update rule.
    public enum Method: String, CaseIterable, Sendable { case gd, sam, usam }

    /// What `run` trains.
    public struct Setup: Sendable {
        /// Hidden widths m.
        public var widths: [Int] = [16, 64, 256, 1024]
        /// Update rules.
        public var methods: [Method] = Method.allCases
        /// Training examples n (the first of MNIST's training set).
        public var examples = 64
        /// Examples per step (n: full batch).
        public var batchSize = 64
        /// The fixed rate.
        public var learningRate = 0.05
        /// The ascent radius (SAM) or factor (USAM).
        public var rho = 0.05
        /// Updates to take.
        public var steps = 2000
        /// Steps between recorded full losses.
        public var recordEvery = 10
        /// Seeds initialisation and batch order.
        public var seed: UInt64 = 1
        /// The defaults.
        public init() {}
    }

    /// One trajectory: the full loss at each recorded step, and the fitted rate.
    public struct Curve: Codable, Sendable {
        /// Hidden width m.
        public var width: Int
        /// gd, sam or usam.
        public var method: String
        /// Parameters of the network.
        public var parameters: Int
        /// Steps at which the loss was recorded.
        public var steps: [Int]
        /// The full training loss at those steps.
        public var losses: [Double]
        /// exp(slope) of log loss against steps, fitted over the second half of the
        /// recorded losses above 1e-28 (Double's floor for these sums); the loss shrinks
        /// by this factor per step. nil when there are too few such points or it grew.
        public var ratePerStep: Double?
        /// Steps per tenfold decrease, -1/log10(rate).
        public var stepsPerDecade: Double?
        /// The last recorded loss.
        public var finalLoss: Double

        /// A curve (the rate fields are filled by `fit`).
        public init(width: Int, method: String, parameters: Int, steps: [Int], losses: [Double], ratePerStep: Double? = nil,
                    stepsPerDecade: Double? = nil, finalLoss: Double) {
            self.width = width; self.method = method; self.parameters = parameters; self.steps = steps; self.losses = losses
            self.ratePerStep = ratePerStep; self.stepsPerDecade = stepsPerDecade; self.finalLoss = finalLoss
        }
    }

    /// The squared loss 1/(2n) sum |f(x_i) - onehot(y_i)|^2 of `model` on one batch, and its gradient.
    public static func lossAndGradient(_ model: Model, _ params: TensorTree<Double>, images: Tensor<Double>, targets: [Int32],
                                classes: Int) throws -> (Double, TensorTree<Double>) {
        let tape = Tape<Double>()
        var vars: [String: Variable] = [:]
        let leaves = params.entries.map { e -> Variable in let v = tape.leaf(e.tensor); vars[e.path] = v; return v }
        let b = ModelBuilder<Double>(tape: tape, mode: .apply(params: vars, masks: [:]), train: true)
        let out = try model.forward(b, tape.leaf(images))
        let f = tape[out], n = targets.count
        var residual = f.scalars
        for i in 0..<n { residual[i * classes + Int(targets[i])] -= 1 }
        let loss = residual.reduce(0) { $0 + $1 * $1 } / Double(2 * n)
        let r = Tensor(shape: f.shape, scalars: residual.map { $0 / Double(n) })
        let l = try tape.custom("squaredLoss", inputs: [out], value: Tensor(scalar: loss)) { seed in
            [Tensor(shape: r.shape, scalars: r.scalars.map { $0 * seed.scalars[0] })]
        }
        let grads = try tape.gradients(of: l, withRespectTo: leaves)
        return (loss, TensorTree(Array(zip(params.paths, grads))))
    }

    /// Runs every (width, method) of `setup` on `data`'s first examples; `progress` gets a line per curve.
    public static func run(_ setup: Setup, data: ImageDataset, progress: ((Curve) -> Void)? = nil) throws -> [Curve] {
        let n = min(setup.examples, data.count)
        let all = DataPipeline<Double>(dataset: data.prefix(n), batchSize: n, train: false, seed: setup.seed)
        let (images, labels) = all.batch(epoch: 0, index: 0, order: all.order(epoch: 0))
        let classes = data.numClasses
        let pixels = images.count / n
        var curves: [Curve] = []
        for width in setup.widths {
            let model = Model(.mlp(numNeurons: [width]), numClasses: classes)
            let (initial, _) = try model.initialize(seed: setup.seed, imageShape: data.imageShape, Double.self)
            for method in setup.methods {
                var w = initial
                var rng = RandomGenerator(seed: setup.seed).derived("converge-batches")
                var order = Array(0..<n), cursor = n
                var steps: [Int] = [], losses: [Double] = []
                let fullBatch = setup.batchSize >= n
                for step in 0...setup.steps {
                    let record = step % setup.recordEvery == 0 || step == setup.steps
                    if record && (!fullBatch || step == setup.steps) {
                        let full = try lossAndGradient(model, w, images: images, targets: labels, classes: classes).0
                        steps.append(step); losses.append(full)
                        if !full.isFinite { break }
                    }
                    if step == setup.steps { break }
                    // The step's batch: all n examples, or the next of a seeded shuffle.
                    var bx = images, by = labels
                    if !fullBatch {
                        if cursor + setup.batchSize > n { order = rng.permutation(n); cursor = 0 }
                        let idx = order[cursor..<cursor + setup.batchSize]
                        cursor += setup.batchSize
                        bx = Tensor(shape: [idx.count] + data.imageShape, scalars: idx.flatMap { images.scalars[($0 * pixels)..<(($0 + 1) * pixels)] })
                        by = idx.map { labels[$0] }
                    }
                    var (batchLoss, g) = try lossAndGradient(model, w, images: bx, targets: by, classes: classes)
                    if record && fullBatch {
                        // The full loss at w is this step's own first pass: not computed twice.
                        steps.append(step); losses.append(batchLoss)
                        if !batchLoss.isFinite { break }
                    }
                    if method != .gd {
                        let norm = TrainStep.globalNorm(g)
                        let k = method == .sam ? setup.rho / (norm + 1e-12) : setup.rho
                        let ascent = try w.zip(g) { $0 + k * $1 }
                        g = try lossAndGradient(model, ascent, images: bx, targets: by, classes: classes).1
                    }
                    w = try w.zip(g) { $0 - setup.learningRate * $1 }
                }
                let curve = Curve(width: width, method: method.rawValue, parameters: initial.scalarCount, steps: steps, losses: losses,
                                  ratePerStep: nil, stepsPerDecade: nil, finalLoss: losses.last ?? .nan)
                let fitted = fit(curve)
                progress?(fitted)
                curves.append(fitted)
            }
        }
        return curves
    }

    /// Least-squares slope of log(loss) against step over the second half of the
    /// recorded points that are finite and above 1e-28.
    public static func fit(_ c: Curve) -> Curve {
        var out = c
        let pts = zip(c.steps, c.losses).filter { $0.1.isFinite && $0.1 > 1e-28 }
        let tail = Array(pts.suffix(max(pts.count / 2, 0)))
        guard tail.count >= 3 else { return out }
        let xs = tail.map { Double($0.0) }, ys = tail.map { Foundation.log($0.1) }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        let sxy = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        guard sxx > 0 else { return out }
        let slope = sxy / sxx
        out.ratePerStep = Foundation.exp(slope)
        out.stepsPerDecade = slope < 0 ? -Foundation.log(10) / slope : nil
        return out
    }

    /// rate.svg: steps per tenfold decrease of the loss (fitted) against parameter count, per method.
    public static func rateFigure(_ curves: [Curve], setup: Setup) -> String {
        var chart = SVGChart(title: "Linear rate against width", xLabel: "parameters (hidden width varied)",
                             yLabel: "steps per tenfold loss decrease (fitted)", xLog: true, yLog: true)
        chart.subtitle = "fit to the second half of each curve; lower is faster"
        for (i, method) in Method.allCases.enumerated() {
            let pts = curves.filter { $0.method == method.rawValue }.compactMap { c in
                c.stepsPerDecade.map { SVGChart.Point(x: Double(c.parameters), y: $0) }
            }
            if !pts.isEmpty { chart.series.append(.init(name: method.rawValue.uppercased(), points: pts, color: SVGChart.palette[i])) }
        }
        return chart.render()
    }

    /// converge.svg: training loss (log) against step, one line per (width, method).
    public static func figure(_ curves: [Curve], setup: Setup) -> String {
        var chart = SVGChart(title: "Convergence: 2-layer ReLU net, squared loss, \(setup.examples) MNIST examples",
                             xLabel: "step", yLabel: "training loss (full batch)", yLog: true)
        chart.subtitle = String(format: "fixed lr %g, rho %g, batch %d; solid SAM, dashed GD, dotted USAM; colour = width",
                                setup.learningRate, setup.rho, setup.batchSize)
        let widths = Array(Set(curves.map(\.width))).sorted()
        for c in curves {
            let color = SVGChart.palette[(widths.firstIndex(of: c.width) ?? 0) % SVGChart.palette.count]
            let pts = zip(c.steps, c.losses).map { SVGChart.Point(x: Double($0.0), y: $0.1) }
            var series = SVGChart.Series(name: "m=\(c.width) \(c.method.uppercased())", points: pts, color: color,
                                         dashed: c.method == "gd", markers: false)
            series.dotted = c.method == "usam"
            chart.series.append(series)
        }
        return chart.render()
    }
}
