import Foundation
import RefSAMCheckpoint
import RefSAMConfig
import RefSAMData
import RefSAMRun
import RefTensor

/// A grid of training runs over one base config (`ref-run sweep`).
///
/// Run k is exactly `ref-run train --workdir=DIR/runs/NAME --config=FILE [overrides]
/// --config.KEY=V ...` for its point of the grid (NAME from `SweepGrid.name(of:)`), so
/// each run's files are where the training command puts them. The sweep resumes: a run
/// whose metrics.jsonl holds every epoch is skipped, a run with checkpoints continues
/// from the newest (bit-identical to one never interrupted), a run that diverged is
/// not retried (it would diverge again: training is deterministic). A run directory
/// that holds a run of another config is refused rather than mixed in.
public final class Sweep {
    /// One run of the sweep.
    public struct Run: Sendable {
        /// The grid point: (key, value text) per axis.
        public let point: [(key: String, value: String)]
        /// Its directory name below `DIR/runs`.
        public let name: String
        /// The base config with the overrides and the point applied.
        public let config: Config
        /// The workdir handed to the trainer: DIR/runs/NAME.
        public let workdir: String
        /// Where the trainer writes: workdir plus the original's run directory.
        public var runDirectory: String { (workdir as NSString).appendingPathComponent(config.runDirectorySuffix) }
        /// The `ref-run train` arguments that make the same run.
        public let trainArguments: [String]
        /// Relative cost: (parameters + 50,000) x epochs x (2 for SAM); sets the ETA.
        public let cost: Double
    }

    /// Where a run stands, read from its files.
    public enum Status: Equatable, Sendable {
        case notStarted
        case incomplete(epochs: Int)
        case finished
        case failed(String)

        /// One word for sweep.csv's status column.
        public var label: String {
            switch self {
            case .notStarted: return "not started"
            case .incomplete: return "incomplete"
            case .finished: return "finished"
            case .failed: return "failed"
            }
        }
    }

    /// The varied settings.
    public let grid: SweepGrid
    /// The sweep's directory (runs/, sweep.csv, figures).
    public let workdir: String
    /// Every run, in grid order.
    public let runs: [Run]
    /// Passed to every run (`--train_examples`, `--test_examples`).
    public var trainExamples: Int?
    /// Passed to every run as the test subset size.
    public var testExamples: Int?

    /// Plans the runs: every grid point applied to `configFile` after `overrides`.
    /// Throws when a grid key is also an override, when a value is not valid for its
    /// key (naming both), or when two points would share a directory.
    public init(configFile: String, overrides: [(String, String)], grid: SweepGrid, workdir: String) throws {
        for axis in grid.axes {
            if overrides.contains(where: { $0.0 == axis.key }) {
                throw ConfigError(file: "--grid \(axis.key)", line: nil, key: axis.key,
                                  message: "is both a --config override and a grid axis; give it one way")
            }
        }
        if Set(grid.axes.map(\.key)).count != grid.axes.count {
            throw ConfigError(file: "--grid", line: nil, key: nil, message: "a key has two --grid axes; list all its values in one")
        }
        self.grid = grid
        self.workdir = workdir
        var runs: [Run] = []
        for point in grid.points {
            let name = SweepGrid.name(of: point)
            let pointOverrides = point.map { ($0.key, $0.value) }
            let config = try Config.load(file: configFile, overrides: overrides + pointOverrides + [("restore_checkpoint", "True")])
            let runWorkdir = ((workdir as NSString).appendingPathComponent("runs") as NSString).appendingPathComponent(name)
            let args = ["train", "--workdir=\(runWorkdir)", "--config=\(configFile)"]
                + (overrides + pointOverrides).map { "--config.\($0.0)=\($0.1)" } + ["--config.restore_checkpoint=True"]
            let spec = RunSpec(config: config)
            let parameters = Double(spec.model.parameterCountWithoutAllocating(imageShape: spec.imageShape) ?? 0)
            // Step time grows with the parameters plus a fixed part (data, evaluation, small
            // layers): about 50,000 parameters' worth for the MNIST MLPs on 2 cores.
            let cost = (parameters + 50_000) * Double(config.numEpochs) * (config.optimizer == .sam ? 2 : 1)
            runs.append(Run(point: point, name: name, config: config, workdir: runWorkdir, trainArguments: args, cost: max(cost, 1)))
        }
        let names = runs.map(\.name)
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw ConfigError(file: "--grid", line: nil, key: nil, message: "two grid points share the directory name '\(dup)'")
        }
        self.runs = runs
    }

    // MARK: Files of a run

    /// The settings that make a run what it is (restore_checkpoint, data_dir and
    /// log_every_steps may differ between invocations).
    static func identity(_ config: Config) -> String {
        Config.schema.filter { !["restore_checkpoint", "data_dir", "log_every_steps"].contains($0.name) }
            .map { "\($0.name) = \(config.values[$0.name]!.repr)" }.joined(separator: "\n") + "\n"
    }

    static func configPath(_ run: Run) -> String { (run.workdir as NSString).appendingPathComponent("sweep_config.txt") }
    static func failurePath(_ run: Run) -> String { (run.workdir as NSString).appendingPathComponent("failed.txt") }

    /// The run's metrics.jsonl, epoch by epoch (empty when it has not started).
    public func metrics(_ run: Run) -> [EpochMetrics] {
        EpochMetrics.readLines(of: (run.runDirectory as NSString).appendingPathComponent("metrics.jsonl"))
    }

    /// Where `run` stands, from failed.txt and metrics.jsonl.
    public func status(_ run: Run) -> Status {
        if let why = try? String(contentsOfFile: Self.failurePath(run), encoding: .utf8) { return .failed(why.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let m = metrics(run)
        if m.count >= run.config.numEpochs { return .finished }
        return m.isEmpty ? .notStarted : .incomplete(epochs: m.count)
    }

    /// Throws when the run's directory holds a run of a different config.
    func checkIdentity(_ run: Run) throws {
        guard let existing = try? String(contentsOfFile: Self.configPath(run), encoding: .utf8) else { return }
        let wanted = Self.identity(run.config)
        guard existing != wanted else { return }
        let old = Set(existing.split(separator: "\n")), new = Set(wanted.split(separator: "\n"))
        let changed = new.subtracting(old).map(String.init).sorted()
        throw RunError.invalidRequest("\(run.workdir) holds a run of another config (now: \(changed.joined(separator: "; "))); "
                                      + "use another --workdir, or remove that directory to start the run over")
    }

    // MARK: Running

    /// What the sweep reports while it runs.
    public struct Progress: Sendable {
        /// The current run, 0-based, of `runs`.
        public var runIndex: Int
        /// Runs in the sweep.
        public var runCount: Int
        /// Runs finished (including those skipped as done).
        public var finished: Int
        /// The current run's epoch, 1-based.
        public var epoch: Int
        /// Its schedule's length.
        public var numEpochs: Int
        /// Steps done in the epoch.
        public var step: Int
        /// Steps per epoch.
        public var stepsPerEpoch: Int
        /// Seconds left for the remaining work, from the cost done so far; nil until some work is done.
        public var eta: Double?
    }

    /// Runs every run not finished, in order. `progress` is called after every step;
    /// `runEnded` after each run (with its row). A run that diverges is recorded
    /// (failed.txt) and the sweep goes on; the returned rows cover every run.
    public func run(progress: ((Progress) -> Void)? = nil, runStarted: ((Int, Run, Status) -> Void)? = nil,
                    runEnded: ((Int, Row) -> Void)? = nil) throws -> [Row] {
        for run in runs { try checkIdentity(run) }
        var data: [String: (train: ImageDataset, test: ImageDataset)] = [:]
        func remaining(_ run: Run) -> Double {
            switch status(run) {
            case .finished, .failed: return 0
            case .notStarted: return run.cost
            case let .incomplete(epochs): return run.cost * (1 - Double(epochs) / Double(run.config.numEpochs))
            }
        }
        var left = runs.map(remaining)
        var doneCost = 0.0
        let started = Date()
        for (i, run) in runs.enumerated() {
            let before = status(run)
            if case .finished = before { runEnded?(i, row(run)); continue }
            if case .failed = before { runEnded?(i, row(run)); continue }
            runStarted?(i, run, before)
            let spec = RunSpec(config: run.config)
            let key = "\(spec.dataset.rawValue)|\(spec.dataDirectory ?? "")"
            if data[key] == nil {
                data[key] = (try spec.loadData(.train, examples: trainExamples), try spec.loadData(.test, examples: testExamples))
            }
            try DurableFile.makeDirectory(run.workdir)
            try DurableFile.write(Array(Self.identity(run.config).utf8), to: Self.configPath(run))
            let epochCost = run.cost / Double(run.config.numEpochs)
            let doneBefore = doneCost
            let finishedSoFar = runs.indices.filter { $0 != i && status(runs[$0]) == .finished }.count
            let observer = SweepRunObserver { epoch, step, steps in
                let fraction = (Double(epoch - 1) + Double(step) / Double(max(steps, 1)))
                let startEpochs = Double(self.epochsAtStart(before))
                let now = doneBefore + max(0, fraction - startEpochs) * epochCost
                let rest = left[i...].reduce(0, +) - max(0, fraction - startEpochs) * epochCost
                let elapsed = Date().timeIntervalSince(started)
                progress?(Progress(runIndex: i, runCount: self.runs.count, finished: finishedSoFar, epoch: epoch,
                                   numEpochs: run.config.numEpochs, step: step, stepsPerEpoch: steps,
                                   eta: now > 0 && elapsed > 1 ? elapsed / now * max(rest, 0) : nil))
            }
            do {
                try train(spec: spec, run: run, data: data[key]!, observer: observer)
            } catch let e as RunError {
                guard case .nonFinite = e else { throw e }
                try DurableFile.write(Array("\(e)\n".utf8), to: Self.failurePath(run))
            }
            doneCost += left[i]
            left[i] = 0
            runEnded?(i, row(run))
        }
        return runs.map(row)
    }

    func epochsAtStart(_ s: Status) -> Int { if case let .incomplete(e) = s { return e }; return 0 }

    func train(spec: RunSpec, run: Run, data: (train: ImageDataset, test: ImageDataset), observer: TrainingObserver) throws {
        func go<T: RefScalar>(_: T.Type) throws {
            let trainer = try Trainer<T>(spec: spec, workdir: run.workdir, train: data.train, test: data.test)
            trainer.observer = observer
            try trainer.run()
        }
        switch spec.dtype {
        case .float32: try go(Float.self)
        case .float64: try go(Double.self)
        }
    }
}

/// Forwards a trainer's steps to the sweep's progress.
final class SweepRunObserver: TrainingObserver {
    let onStep: (Int, Int, Int) -> Void
    init(_ onStep: @escaping (Int, Int, Int) -> Void) { self.onStep = onStep }
    func stepEnded(epoch: Int, step: Int, of stepsPerEpoch: Int, seconds: Double) { onStep(epoch, step, stepsPerEpoch) }
}
