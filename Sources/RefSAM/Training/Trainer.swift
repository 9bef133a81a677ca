import Foundation
import RefTensor

#if canImport(Glibc)
import Glibc
#endif

/// One epoch's numbers, as written to metrics.jsonl.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int            // 1-based, as the logs print it
    public var step: Int             // updates applied so far
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double
    public var learningRate: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss"
        case testAccuracy = "test_accuracy", learningRate = "learning_rate"
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(epoch: Int, step: Int, loss: Double, lastCheckpoint: String?)
    case existingRun(directory: String, checkpoints: [String])
    public var description: String {
        switch self {
        case let .nonFinite(epoch, step, loss, last):
            return "the loss is \(loss) at epoch \(epoch), step \(step); training stopped. "
                + (last.map { "The last good checkpoint, \($0), is kept." } ?? "No checkpoint was written yet.")
        case let .existingRun(dir, cps):
            return "\(dir) already holds checkpoints (\(cps.joined(separator: ", "))). Pass --overwrite to delete them and start over, "
                + "or --config.restore_checkpoint=True to resume."
        }
    }
}

/// The original's training loop (train.py: train_and_evaluate), with its log lines,
/// plus metrics.jsonl, a progress line on a terminal, and atomic checkpoints.
public final class Trainer<T: RefScalar> {
    public let config: Config
    public let model: Model
    public let runDirectory: String
    public let trainPipeline: DataPipeline<T>
    public let testPipeline: DataPipeline<T>
    public let schedule: LearningRateSchedule
    /// Training labels that label noise changed (indices).
    public let noisyLabels: [Int]
    /// Where log lines go (besides RUNDIR/log.txt). Default: standard output.
    public var emit: (String) -> Void = { print($0); fflush(stdout) }
    /// Draw a progress line with rate and ETA on standard error (default: when it is a terminal).
    public var showProgress = isatty(2) != 0
    /// Stop after this many epochs of this process (tests simulate an interruption).
    public var stopAfterEpochs: Int? = nil

    /// - Parameters: `train`, `test`: the datasets (already loaded, possibly subsets).
    public init(config: Config, workdir: String, train: ImageDataset, test: ImageDataset) throws {
        self.config = config
        model = config.model
        runDirectory = (workdir as NSString).appendingPathComponent(config.runDirectorySuffix)
        let noise = try LabelNoise.apply(train.labels, fraction: config.labelNoise, numClasses: train.numClasses, seed: UInt64(config.seed))
        noisyLabels = noise.changed
        trainPipeline = DataPipeline(dataset: train, batchSize: config.batchSize, train: true, seed: UInt64(config.seed), labels: noise.labels)
        testPipeline = DataPipeline(dataset: test, batchSize: config.batchSize, train: false, seed: UInt64(config.seed))
        schedule = LearningRateSchedule(kind: config.schedule, baseLearningRate: config.learningRate, numEpochs: config.numEpochs,
                                        stepsPerEpoch: trainPipeline.batchesPerEpoch, warmupSteps: config.warmupSteps)
    }

    /// Initial parameters from the seed, then the pruning mask (SNIP scores the first
    /// training batch), and the parameters multiplied by it, as the original does.
    public static func initialState(config: Config, model: Model, firstBatch: () throws -> (images: Tensor<T>, labels: [Int32])) throws
        -> TrainState<T> {
        let (params, stats) = try model.initialize(seed: UInt64(config.seed), imageShape: config.datasetShape.image, T.self)
        var batch: (images: Tensor<T>, labels: [Int32])? = nil
        if config.pruner == .snip { batch = try firstBatch() }
        let scores = try Pruning.scores(config.pruner, model: model, params: params, batchStats: stats, seed: UInt64(config.seed),
                                        images: batch?.images, labels: batch?.labels)
        let mask = try Pruning.mask(params: params, scores: scores, sparsity: config.sparsity, pruner: config.pruner)
        return TrainState(params: try params.zip(mask, *), batchStats: stats, mask: mask)
    }

    var metricsPath: String { (runDirectory as NSString).appendingPathComponent("metrics.jsonl") }
    var logPath: String { (runDirectory as NSString).appendingPathComponent("log.txt") }

    func log(_ line: String) {
        clearProgress()
        emit(line)
        if let h = FileHandle(forWritingAtPath: logPath) { h.seekToEndOfFile(); h.write((line + "\n").data(using: .utf8)!); try? h.close() }
    }

    var progressDrawn = false
    func clearProgress() { if progressDrawn { FileHandle.standardError.write("\r\u{1B}[2K".data(using: .utf8)!); progressDrawn = false } }

    /// Trains, evaluates after every epoch, checkpoints; returns the per-epoch metrics of the whole run.
    @discardableResult
    public func run(overwrite: Bool = false) throws -> [EpochMetrics] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let existing = try Checkpoint.list(runDirectory)
        var state: TrainState<T>
        var history: [EpochMetrics] = []
        if config.restoreCheckpoint, let newest = existing.last {
            let fresh = try model.initialize(seed: UInt64(config.seed), imageShape: trainPipeline.dataset.imageShape, T.self)
            state = try Checkpoint.load(newest.path, T.self).aligned(params: fresh.params, batchStats: fresh.batchStats, source: newest.path)
            history = readMetrics().filter { $0.step <= state.step }
            try writeMetrics(history)
        } else {
            // A fresh start (no restore requested, or nothing to restore) over an earlier
            // run's checkpoints only with --overwrite; its files are then removed.
            guard existing.isEmpty || overwrite else {
                throw TrainingError.existingRun(directory: runDirectory, checkpoints: existing.map { ($0.path as NSString).lastPathComponent })
            }
            for c in existing { try fm.removeItem(atPath: c.path) }
            try? fm.removeItem(atPath: metricsPath)
            try? fm.removeItem(atPath: logPath)
            state = try Self.initialState(config: config, model: model) {
                let b = trainPipeline.batch(epoch: 0, index: 0, order: trainPipeline.order(epoch: 0))
                return (b.images, b.labels)
            }
        }
        if !fm.fileExists(atPath: logPath) { fm.createFile(atPath: logPath, contents: nil) }
        let stepsPerEpoch = trainPipeline.batchesPerEpoch
        let startEpoch = state.step / stepsPerEpoch
        logHeader(state: state, startEpoch: startEpoch)

        var best = history.max { $0.testAccuracy < $1.testAccuracy }
        var totalSteps = 0
        var epochsThisRun = 0
        for epoch in startEpoch..<config.numEpochs {
            if let stop = stopAfterEpochs, epochsThisRun >= stop { break }
            log("Epoch \(epoch + 1) / \(config.numEpochs)")
            let start = Date()
            let order = trainPipeline.order(epoch: epoch)
            var lossSum = 0.0, accSum = 0.0, seen = 0
            for step in 0..<stepsPerEpoch {
                let (images, labels) = trainPipeline.batch(epoch: epoch, index: step, order: order)
                // A partial last batch that the shards do not divide runs as one shard.
                let shards = labels.count % config.samShards == 0 ? config.samShards : 1
                let h = StepHyperparameters(optimizer: config.optimizer, rho: config.rho, learningRate: schedule(state.step),
                                            momentum: config.momentum, weightDecay: config.weightDecay, samShards: shards)
                let r = try TrainStep.run(model, state: state, images: images, labels: labels, h)
                let loss = Double(r.loss)
                guard loss.isFinite else {
                    throw TrainingError.nonFinite(epoch: epoch + 1, step: step, loss: loss,
                                                  lastCheckpoint: try Checkpoint.list(runDirectory).last.map { $0.path })
                }
                state = r.state
                lossSum += loss * Double(labels.count); accSum += r.accuracy * Double(labels.count); seen += labels.count
                totalSteps += 1
                if totalSteps % config.logEverySteps == 0 {
                    log(String(format: "Epoch[%d] Step [%d/%d]: loss %.4f acc %.4f (time elapsed: %.4f)",
                               epoch + 1, step, stepsPerEpoch, loss, r.accuracy, Date().timeIntervalSince(start)))
                }
                if showProgress { drawProgress(epoch: epoch, step: step + 1, of: stepsPerEpoch, since: start) }
            }
            let trainTime = Date().timeIntervalSince(start)
            let lr = schedule(stepsPerEpoch * epoch)
            let test = try model.evaluate(params: state.params, batchStats: state.batchStats, pipeline: testPipeline,
                                          maxBatches: config.stepsPerEval > 0 ? config.stepsPerEval : nil)
            let m = EpochMetrics(epoch: epoch + 1, step: state.step, trainLoss: lossSum / Double(seen), trainAccuracy: accSum / Double(seen),
                                 testLoss: test.loss, testAccuracy: test.accuracy, learningRate: lr, seconds: trainTime)
            log(String(format: "Train: loss %.4f acc %.4f; Val: loss %.4f acc %.4f (lr %.4f / took %.2f seconds) \n",
                       m.trainLoss, m.trainAccuracy, m.testLoss, m.testAccuracy, lr, trainTime))
            if best == nil || m.testAccuracy > best!.testAccuracy { best = m }
            history.append(m)
            try writeMetrics(history)
            try Checkpoint.save(state, directory: runDirectory)
            epochsThisRun += 1
        }
        if let best { log(String(format: "Best test acc %.4f at epoch %d", best.testAccuracy, best.epoch)) }
        return history
    }

    func logHeader(state: TrainState<T>, startEpoch: Int) {
        log("ref-run: \(model) on \(trainPipeline.dataset.name) (\(trainPipeline.dataset.count) train / \(testPipeline.dataset.count) test), "
            + "\(config.dtype), \(Threads.count) threads")
        log("run directory: \(runDirectory)")
        log("config: " + Config.schema.map { "\($0.key)=\(config.values[$0.key]!.repr)" }.joined(separator: ", "))
        for key in config.setKeys where Config.ignoredKeys.contains(key) {
            log("note: config.\(key) is accepted for compatibility with the original and ignored")
        }
        if !noisyLabels.isEmpty { log("label noise: \(noisyLabels.count) training labels changed (listed in noisy_labels.json)") }
        if !noisyLabels.isEmpty, let data = try? JSONSerialization.data(withJSONObject: noisyLabels) {
            try? data.write(to: URL(fileURLWithPath: (runDirectory as NSString).appendingPathComponent("noisy_labels.json")))
        }
        let params = state.params.scalarCount
        let kept = state.mask.map { m in m.entries.filter { Pruning.isKernel($0.path) }.reduce(0) { $0 + $1.tensor.scalars.filter { $0 != 0 }.count } }
        let kernels = state.params.entries.filter { Pruning.isKernel($0.path) }.reduce(0) { $0 + $1.tensor.count }
        log("parameters: \(params) (kernel weights kept: \(kept ?? kernels) of \(kernels)); \(trainPipeline.batchesPerEpoch) steps per epoch"
            + (startEpoch > 0 ? "; resuming at epoch \(startEpoch + 1) (step \(state.step))" : ""))
    }

    func drawProgress(epoch: Int, step: Int, of total: Int, since start: Date) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(step) / max(elapsed, 1e-9)
        let eta = Double(total - step) / max(rate, 1e-9)
        let line = String(format: "\r\u{1B}[2Kepoch %d  step %d/%d  %.1f steps/s  ETA %d:%02d", epoch + 1, step, total, rate,
                          Int(eta) / 60, Int(eta) % 60)
        FileHandle.standardError.write(line.data(using: .utf8)!)
        progressDrawn = true
    }

    func readMetrics() -> [EpochMetrics] {
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
    }

    func writeMetrics(_ all: [EpochMetrics]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let text = try all.map { String(decoding: try enc.encode($0), as: UTF8.self) }.joined(separator: "\n") + (all.isEmpty ? "" : "\n")
        try text.write(toFile: metricsPath, atomically: true, encoding: .utf8)
    }
}
