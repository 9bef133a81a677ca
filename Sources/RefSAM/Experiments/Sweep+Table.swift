import Foundation
import RefSAMCheckpoint
import RefSAMConfig
import RefSAMRun

extension Sweep {
    /// One line of sweep.csv: a run's settings and outcome, read from its metrics.jsonl.
    public struct Row: Sendable {
        /// The varied settings, in axis order.
        public var point: [(key: String, value: String)]
        /// Parameters of the model (dense count; pruned weights included).
        public var parameters: Int
        /// The config's sparsity (kernel weights pruned at initialisation).
        public var sparsity: Double
        /// finished, incomplete, not started or failed.
        public var status: String
        /// Epochs in metrics.jsonl, and the schedule's length.
        public var epochs: Int
        /// The schedule's length (config.num_epochs).
        public var numEpochs: Int
        /// Highest test accuracy over the epochs.
        public var bestTestAccuracy: Double
        /// The epoch (1-based) of `bestTestAccuracy`.
        public var bestEpoch: Int
        /// Test accuracy after the last epoch run.
        public var finalTestAccuracy: Double
        /// Test loss after the last epoch run.
        public var finalTestLoss: Double
        /// The last epoch's mean training loss (first pass).
        public var finalTrainLoss: Double
        /// The last epoch's training accuracy (first pass).
        public var finalTrainAccuracy: Double
        /// Training seconds summed over the epochs (evaluation excluded).
        public var seconds: Double
        /// The trainer's run directory.
        public var runDirectory: String
        /// Relative to the sweep's workdir.
        public var relativeRunDirectory: String
        /// Every epoch's metrics (for the loss curves).
        public var history: [EpochMetrics]

        /// A row with every column given.
        public init(point: [(key: String, value: String)], parameters: Int, sparsity: Double, status: String, epochs: Int,
                    numEpochs: Int, bestTestAccuracy: Double, bestEpoch: Int, finalTestAccuracy: Double, finalTestLoss: Double,
                    finalTrainLoss: Double, finalTrainAccuracy: Double, seconds: Double, runDirectory: String,
                    relativeRunDirectory: String, history: [EpochMetrics]) {
            self.point = point; self.parameters = parameters; self.sparsity = sparsity; self.status = status
            self.epochs = epochs; self.numEpochs = numEpochs; self.bestTestAccuracy = bestTestAccuracy; self.bestEpoch = bestEpoch
            self.finalTestAccuracy = finalTestAccuracy; self.finalTestLoss = finalTestLoss; self.finalTrainLoss = finalTrainLoss
            self.finalTrainAccuracy = finalTrainAccuracy; self.seconds = seconds; self.runDirectory = runDirectory
            self.relativeRunDirectory = relativeRunDirectory; self.history = history
        }

        /// The value text of `key` at this run's point, or nil when it is not an axis.
        public func value(of key: String) -> String? { point.first { $0.key == key }?.value }
    }

    /// The row of `run` as its files stand now.
    public func row(_ run: Run) -> Row {
        let m = metrics(run)
        let best = m.max { $0.testAccuracy < $1.testAccuracy }
        let spec = RunSpec(config: run.config)
        return Row(point: run.point, parameters: spec.model.parameterCountWithoutAllocating(imageShape: spec.imageShape) ?? -1,
                   sparsity: run.config.sparsity, status: status(run).label, epochs: m.count, numEpochs: run.config.numEpochs,
                   bestTestAccuracy: best?.testAccuracy ?? .nan, bestEpoch: best?.epoch ?? 0,
                   finalTestAccuracy: m.last?.testAccuracy ?? .nan, finalTestLoss: m.last?.testLoss ?? .nan,
                   finalTrainLoss: m.last?.trainLoss ?? .nan, finalTrainAccuracy: m.last?.trainAccuracy ?? .nan,
                   seconds: m.reduce(0) { $0 + $1.seconds }, runDirectory: run.runDirectory,
                   relativeRunDirectory: ("runs" as NSString).appendingPathComponent((run.name as NSString).appendingPathComponent(run.config.runDirectorySuffix)),
                   history: m)
    }

    /// sweep.csv: a header, then one line per run. Values with commas or quotes are quoted.
    public static func csv(_ rows: [Row], axes: [String]) -> String {
        let header = axes + ["parameters", "sparsity", "status", "epochs", "num_epochs", "best_test_accuracy", "best_epoch",
                             "final_test_accuracy", "final_test_loss", "final_train_loss", "final_train_accuracy",
                             "seconds", "run_directory"]
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ d: Double, _ digits: Int = 4) -> String { d.isFinite ? String(format: "%.\(digits)f", d) : "" }
        var lines = [header.map(field).joined(separator: ",")]
        for r in rows {
            let cells = axes.map { r.value(of: $0) ?? "" } + [
                String(r.parameters), PythonFormat.float(r.sparsity), r.status, String(r.epochs), String(r.numEpochs),
                number(r.bestTestAccuracy), String(r.bestEpoch), number(r.finalTestAccuracy), number(r.finalTestLoss, 5),
                number(r.finalTrainLoss, 5), number(r.finalTrainAccuracy), number(r.seconds, 1), r.relativeRunDirectory]
            lines.append(cells.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes sweep.csv, summary.md and the figures into the workdir from the runs' files as they
    /// stand; returns the paths written.
    @discardableResult
    public func writeReport() throws -> [String] {
        let rows = runs.map(row)
        let csvPath = (workdir as NSString).appendingPathComponent("sweep.csv")
        try DurableFile.write(Array(Self.csv(rows, axes: grid.axes.map(\.key)).utf8), to: csvPath)
        var written = [csvPath]
        let summaryPath = (workdir as NSString).appendingPathComponent("summary.md")
        try DurableFile.write(Array(SweepSummary(rows: rows, axes: grid.axes.map(\.key)).markdown.utf8), to: summaryPath)
        written.append(summaryPath)
        for (name, svg) in SweepFigures(rows: rows, axes: grid.axes.map(\.key), title: reportTitle).all {
            let path = (workdir as NSString).appendingPathComponent(name)
            try DurableFile.write(Array(svg.utf8), to: path)
            written.append(path)
        }
        return written
    }

    /// The figures' title: model and dataset, the settings every run shares that a
    /// reader would otherwise not know (width, label noise, sparsity), and the epochs.
    var reportTitle: String {
        guard let c = runs.first?.config else { return "" }
        let varied = Set(grid.axes.map(\.key))
        var parts = ["\(c.model.rawValue) on \(c.dataset.rawValue)"]
        if c.model == .mlp && !varied.contains("num_neurons") { parts[0] += " " + c.numNeurons.map(String.init).joined(separator: "-") }
        if c.labelNoise > 0 && !varied.contains("label_noise") { parts.append(String(format: "%g%% label noise", c.labelNoise * 100)) }
        if c.sparsity > 0 && !varied.contains("sparsity") { parts.append("sparsity \(PythonFormat.float(c.sparsity))") }
        parts.append("\(c.numEpochs) epochs")
        return parts.joined(separator: ", ")
    }
}
