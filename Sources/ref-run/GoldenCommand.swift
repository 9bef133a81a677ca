import Foundation
import RefSAM
import RefTensor

/// `ref-run golden --config=FILE [--config.KEY=VALUE ...] --out DIR [--dtype float64]
/// [--steps K] [--batch N] [--synthetic]`: writes K consecutive one-step fixtures of
/// this reference from the config's model, initialisation, mask and first batches.
enum GoldenCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["config", "out", "dtype", "steps", "batch", "threads"], command: "golden")
        guard let out = args.options["out"] else { throw UsageError("golden needs --out DIR") }
        var overrides = args.configOverrides
        if let batch = try args.int("batch") { overrides.append(("batch_size", String(batch))) }
        if let dtype = args.options["dtype"] { overrides.append(("dtype", dtype)) }
        let config = try Config.load(file: args.options["config"], overrides: overrides)
        let steps = try args.int("steps") ?? 1
        guard steps >= 1 else { throw UsageError("--steps must be >= 1") }
        let synthetic = args.switches.contains("synthetic")
        if config.dtype == "float64" {
            try write(Double.self, config: config, steps: steps, synthetic: synthetic, out: out)
        } else {
            try write(Float.self, config: config, steps: steps, synthetic: synthetic, out: out)
        }
        return 0
    }

    static func write<T: RefScalar>(_: T.Type, config: Config, steps: Int, synthetic: Bool, out: String) throws {
        let model = config.model
        let source: BatchSource<T> = synthetic
            ? .synthetic(config: config)
            : try .dataset(config: config)
        var state = try Trainer<T>.initialState(config: config, model: model, firstBatch: { try source.batch(0) })
        let schedule = LearningRateSchedule(kind: config.schedule, baseLearningRate: config.learningRate,
                                            numEpochs: config.numEpochs, stepsPerEpoch: max(1, source.stepsPerEpoch),
                                            warmupSteps: config.warmupSteps)
        for k in 0..<steps {
            let (images, labels) = try source.batch(k)
            let h = StepHyperparameters(optimizer: config.optimizer, rho: config.rho, learningRate: schedule(k),
                                        momentum: config.momentum, weightDecay: config.weightDecay, samShards: config.samShards)
            let r = try TrainStep.run(model, state: state, images: images, labels: labels, h)
            let dir = (out as NSString).appendingPathComponent(String(format: "step_%03d", k))
            try FixtureWriter.write(to: dir, model: model, step: h, state: state, images: images, labels: labels, result: r,
                                    producer: "ref-run golden \(RefRun.version) (\(synthetic ? "synthetic" : config.dataset) batch, seed \(config.seed))")
            print("\(dir): loss \(r.loss)")
            state = r.state
        }
    }
}
