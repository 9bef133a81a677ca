import Foundation
import RefTensor

/// `ref-run golden`: K consecutive one-step fixtures of this reference, from the
/// config's model, seeded initialisation, pruning mask and first training batches
/// (or seeded synthetic images of the dataset's shape).
public enum Golden {
    /// Writes OUT/step_000 ... and returns (directory, loss) per step.
    @discardableResult
    public static func write<T: RefScalar>(_: T.Type, config: Config, steps: Int, synthetic: Bool, out: String,
                                           producer: String) throws -> [(String, Double)] {
        let model = config.model
        let source: BatchSource<T> = synthetic ? .synthetic(config: config) : try .dataset(config: config)
        var state = try Trainer<T>.initialState(config: config, model: model, firstBatch: { try source.batch(0) })
        let schedule = LearningRateSchedule(kind: config.schedule, baseLearningRate: config.learningRate,
                                            numEpochs: config.numEpochs, stepsPerEpoch: max(1, source.stepsPerEpoch),
                                            warmupSteps: config.warmupSteps)
        var written: [(String, Double)] = []
        for k in 0..<steps {
            let (images, labels) = try source.batch(k)
            let h = StepHyperparameters(optimizer: config.optimizer, rho: config.rho, learningRate: schedule(k),
                                        momentum: config.momentum, weightDecay: config.weightDecay, samShards: config.samShards)
            let r = try TrainStep.run(model, state: state, images: images, labels: labels, h)
            let dir = (out as NSString).appendingPathComponent(String(format: "step_%03d", k))
            try FixtureWriter.write(to: dir, model: model, step: h, state: state, images: images, labels: labels, result: r,
                                    producer: producer + " (\(synthetic ? "synthetic" : config.dataset) batch \(k), seed \(config.seed))")
            written.append((dir, Double(r.loss)))
            state = r.state
        }
        return written
    }
}
