import Foundation
import RefSAMCheckpoint
import RefSAMConfig
import RefSAMData
import RefSAMModels
import RefSAMTraining
import RefTensor

/// The original's training loop (train.py: train_and_evaluate), with its log lines,
/// plus metrics.jsonl and atomic checkpoints. What it reports while running goes to
/// `observer`; the files go to `runDirectory`.
public final class Trainer<T: RefScalar> {
    /// What the run is.
    public let spec: RunSpec
    /// WORKDIR/dataset_D/optimizer_O/.../seed_N, as the original names it.
    public let runDirectory: String
    /// Shuffled, augmented batches of the training set (label noise applied).
    public let trainPipeline: DataPipeline<T>
    /// The test set in order.
    public let testPipeline: DataPipeline<T>
    /// The learning rate of each update.
    public let schedule: LearningRateSchedule
    /// Training labels that label noise changed (indices).
    public let noisyLabels: [Int]
    /// Receives log lines, step progress and epoch metrics (nil: nothing is reported).
    public var observer: TrainingObserver?
    /// Stop after this many epochs of this process (an interruption, resumed later).
    public var stopAfterEpochs: Int? = nil
    /// When set, steps run on the trainer it makes (the CUDA backend), which keeps the
    /// state between steps and evaluates it there; the state is copied back at the end of
    /// each epoch for the checkpoint. Nil: `TrainStep.run` here.
    public var residentTrainer: ResidentTrainerFactory<T>? = nil
    /// When set, a fresh start takes its state from this instead of computing it: it must
    /// give `spec.initialState(T.self, from: .fresh)` (computed ahead, e.g. on another
    /// thread while the data was read). Not used with the SNIP pruner, whose state
    /// depends on the first batch.
    public var freshState: (() throws -> TrainState<T>)? = nil
    private var resident: (any ResidentTrainer<T>)? = nil
    /// Example orders of the epochs the stream is reading (at most two: with
    /// `consume_mask_batch` an epoch's last update reads the next epoch's first batch).
    private var epochOrders: [Int: [Int]] = [:]

    /// - Parameters: `train`, `test`: the datasets (already loaded, possibly subsets),
    ///   checked against the image shape of `spec`.
    public init(spec: RunSpec, workdir: String, train: ImageDataset, test: ImageDataset) throws {
        try spec.checkData(train, .train)
        try spec.checkData(test, .test)
        self.spec = spec
        runDirectory = (workdir as NSString).appendingPathComponent(spec.runDirectorySuffix)
        (trainPipeline, noisyLabels) = try spec.trainPipeline(train, T.self)
        testPipeline = spec.testPipeline(test, T.self)
        schedule = spec.schedule(stepsPerEpoch: trainPipeline.batchesPerEpoch)
    }

    var metricsPath: String { (runDirectory as NSString).appendingPathComponent("metrics.jsonl") }
    var logPath: String { (runDirectory as NSString).appendingPathComponent("log.txt") }

    func log(_ line: String) {
        observer?.log(line)
        if let h = FileHandle(forWritingAtPath: logPath) { h.seekToEndOfFile(); h.write(Data((line + "\n").utf8)); try? h.close() }
    }

    /// The state to start from: the newest checkpoint when resuming, else a fresh one
    /// (after removing an earlier run's files, which only `overwrite` allows).
    func startingState(overwrite: Bool) throws -> (state: TrainState<T>, history: [EpochMetrics]) {
        let fm = FileManager.default
        DurableFile.removeTemporaries(in: runDirectory)
        let existing = try Checkpoint.list(runDirectory)
        if spec.restoreCheckpoint, let newest = existing.last {
            let state = try spec.initialState(T.self, from: .checkpoint(newest.path))
            let history = readMetrics().filter { $0.step <= state.step }
            try writeMetrics(history)
            return (state, history)
        }
        guard existing.isEmpty || overwrite else {
            throw RunError.existingRun(directory: runDirectory, checkpoints: existing.map { ($0.path as NSString).lastPathComponent })
        }
        for c in existing { try fm.removeItem(atPath: c.path) }
        try? fm.removeItem(atPath: metricsPath)
        try? fm.removeItem(atPath: logPath)
        if let freshState, spec.pruner != .snip { return (try freshState(), []) }
        let state = try spec.initialState(T.self, from: .fresh) {
            let b = self.trainPipeline.batch(epoch: 0, index: 0, order: self.trainPipeline.order(epoch: 0))
            return (b.images, b.labels)
        }
        return (state, [])
    }

    /// Trains, evaluates after every epoch, checkpoints; returns the per-epoch metrics of
    /// the whole run. A fresh start over an earlier run's checkpoints needs `overwrite`.
    @discardableResult
    public func run(overwrite: Bool = false) throws -> [EpochMetrics] {
        let fm = FileManager.default
        try DurableFile.makeDirectory(runDirectory)
        var (state, history) = try startingState(overwrite: overwrite)
        if !fm.fileExists(atPath: logPath) { _ = fm.createFile(atPath: logPath, contents: nil) }
        let stepsPerEpoch = trainPipeline.batchesPerEpoch
        let startEpoch = state.step / stepsPerEpoch
        logHeader(state: state, startEpoch: startEpoch)

        var best = spec.bestSinceResume ? nil : history.max { $0.testAccuracy < $1.testAccuracy }
        var totalSteps = 0
        var epochsThisRun = 0
        for epoch in startEpoch..<spec.numEpochs {
            if let stop = stopAfterEpochs, epochsThisRun >= stop { break }
            let m = try trainEpoch(epoch, state: &state, totalSteps: &totalSteps)
            if best == nil || m.testAccuracy > best!.testAccuracy { best = m }
            history.append(m)
            try writeMetrics(history)
            try Checkpoint.save(state, directory: runDirectory)
            observer?.epochEnded(m)
            epochsThisRun += 1
        }
        if let best { log(String(format: "Best test acc %.4f at epoch %d", best.testAccuracy, best.epoch)) }
        return history
    }

    /// One epoch of updates (0-based `epoch`), then the evaluation; returns its metrics.
    func trainEpoch(_ epoch: Int, state: inout TrainState<T>, totalSteps: inout Int) throws -> EpochMetrics {
        let stepsPerEpoch = trainPipeline.batchesPerEpoch
        log("Epoch \(epoch + 1) / \(spec.numEpochs)")
        let start = Date()
        var lossSum = 0.0, accSum = 0.0, seen = 0
        for step in 0..<stepsPerEpoch {
            let (images, labels) = streamBatch(epoch * stepsPerEpoch + step + (spec.consumeMaskBatch ? 1 : 0))
            let h = spec.hyperparameters(learningRate: schedule(state.step), batchCount: labels.count)
            let r = try runStep(state: &state, images: images, labels: labels, h)
            let loss = Double(r.loss)
            guard loss.isFinite else {
                throw RunError.nonFinite(epoch: epoch + 1, step: step, loss: loss,
                                         lastCheckpoint: try Checkpoint.list(runDirectory).last.map { $0.path })
            }
            lossSum += loss * Double(labels.count); accSum += r.accuracy * Double(labels.count); seen += labels.count
            totalSteps += 1
            if totalSteps % spec.logEverySteps == 0 {
                log(String(format: "Epoch[%d] Step [%d/%d]: loss %.4f acc %.4f (time elapsed: %.4f)",
                           epoch + 1, step, stepsPerEpoch, loss, r.accuracy, Date().timeIntervalSince(start)))
            }
            observer?.stepEnded(epoch: epoch + 1, step: step + 1, of: stepsPerEpoch, seconds: Date().timeIntervalSince(start))
        }
        if let resident { state = try resident.state() }
        let trainTime = Date().timeIntervalSince(start)
        let lr = schedule(stepsPerEpoch * epoch)
        let test = try resident?.evaluate(pipeline: testPipeline, maxBatches: spec.evaluationBatches)
            ?? spec.model.evaluate(params: state.params, batchStats: state.batchStats, pipeline: testPipeline,
                                   maxBatches: spec.evaluationBatches)
        let m = EpochMetrics(epoch: epoch + 1, step: state.step, trainLoss: lossSum / Double(seen), trainAccuracy: accSum / Double(seen),
                             testLoss: test.loss, testAccuracy: test.accuracy, learningRate: lr, seconds: trainTime)
        log(String(format: "Train: loss %.4f acc %.4f; Val: loss %.4f acc %.4f (lr %.4f / took %.2f seconds) \n",
                   m.trainLoss, m.trainAccuracy, m.testLoss, m.testAccuracy, lr, trainTime))
        return m
    }

    /// One step, here or on the resident trainer; `state` advances here only (a resident
    /// trainer's state is copied back at the end of the epoch, and its step count kept here).
    func runStep(state: inout TrainState<T>, images: Tensor<T>, labels: [Int32], _ h: StepHyperparameters) throws
        -> (loss: T, accuracy: Double) {
        guard let make = residentTrainer else {
            let r = try TrainStep.run(spec.model, state: &state, images: images, labels: labels, h)
            return (r.loss, r.accuracy)
        }
        if let r = resident, r.batchShape != images.shape { state = try r.state(); resident = nil }
        if resident == nil { resident = try make(spec.model, state, images.shape, h) }
        let r = try resident!.step(images: images, labels: labels, learningRate: h.learningRate)
        state.step += 1
        return r
    }

    /// Batch `g` of the training stream, the epochs' batches one after another: batch
    /// g mod n of epoch g / n, n batches per epoch. Each epoch's order is drawn once.
    func streamBatch(_ g: Int) -> (images: Tensor<T>, labels: [Int32]) {
        let n = trainPipeline.batchesPerEpoch, epoch = g / n
        if epochOrders[epoch] == nil {
            epochOrders = epochOrders.filter { $0.key >= epoch }      // earlier epochs are done
            epochOrders[epoch] = trainPipeline.order(epoch: epoch)
        }
        return trainPipeline.batch(epoch: epoch, index: g % n, order: epochOrders[epoch]!)
    }

    func logHeader(state: TrainState<T>, startEpoch: Int) {
        let config = spec.config
        log("ref-run: \(spec.model) on \(trainPipeline.dataset.name.rawValue) (\(trainPipeline.dataset.count) train / \(testPipeline.dataset.count) test), "
            + "\(spec.dtype.rawValue), \(Threads.count) threads")
        log("run directory: \(runDirectory)")
        log("config: " + Config.schema.map { "\($0.name)=\(config.values[$0.name]!.repr)" }.joined(separator: ", "))
        for key in config.setKeys where Config.ignoredKeys.contains(key) {
            log("note: config.\(key) is accepted for compatibility with the original and ignored")
        }
        if trainPipeline.dataset.name == .imagenet2012 && trainPipeline.dataset.sources == nil {
            log("note: ImageNet from 224x224 centre-crop arrays: training only flips them, not the original's random-resized crops "
                + "(tools/imagenet_to_npy.py without --crops writes whole images)")
        }
        if !noisyLabels.isEmpty { log("label noise: \(noisyLabels.count) training labels changed (listed in noisy_labels.json)") }
        if !noisyLabels.isEmpty, let data = try? JSONSerialization.data(withJSONObject: noisyLabels) {
            try? data.write(to: URL(fileURLWithPath: (runDirectory as NSString).appendingPathComponent("noisy_labels.json")))
        }
        let params = state.params.scalarCount
        let kept = state.mask.map { m in
            m.entries.filter { Pruning.isKernel($0.path) }.reduce(0) { n, e in e.tensor.scalars.reduce(n) { $1 != 0 ? $0 + 1 : $0 } }
        }
        let kernels = state.params.entries.filter { Pruning.isKernel($0.path) }.reduce(0) { $0 + $1.tensor.count }
        log("parameters: \(params) (kernel weights kept: \(kept ?? kernels) of \(kernels)); \(trainPipeline.batchesPerEpoch) steps per epoch"
            + (startEpoch > 0 ? "; resuming at epoch \(startEpoch + 1) (step \(state.step))" : ""))
    }

    func readMetrics() -> [EpochMetrics] { EpochMetrics.readLines(of: metricsPath) }

    func writeMetrics(_ all: [EpochMetrics]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let text = try all.map { String(decoding: try enc.encode($0), as: UTF8.self) }.joined(separator: "\n") + (all.isEmpty ? "" : "\n")
        try DurableFile.write(Array(text.utf8), to: metricsPath)
    }
}
