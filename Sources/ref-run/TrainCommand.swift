import Foundation
import RefSAM
import RefTensor

/// `ref-run [train] --workdir=DIR --config=FILE [--config.KEY=VALUE ...] [--overwrite] [--threads N]`
enum TrainCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["workdir", "config", "threads", "train_examples", "test_examples", "stop_after_epochs"], command: "train")
        guard let workdir = args.options["workdir"] else { throw UsageError("train needs --workdir=DIR") }
        guard let configPath = args.options["config"] else { throw UsageError("train needs --config=FILE") }
        let config = try Config.load(file: configPath, overrides: args.configOverrides)
        var train = try Datasets.load(config.dataset, split: .train, dataDir: config.dataDir)
        var test = try Datasets.load(config.dataset, split: .test, dataDir: config.dataDir)
        if let n = try args.int("train_examples") { train = train.prefix(n) }
        if let n = try args.int("test_examples") { test = test.prefix(n) }
        let overwrite = args.switches.contains("overwrite")
        let stop = try args.int("stop_after_epochs")
        if let stop, stop < 1 { throw UsageError("--stop_after_epochs must be >= 1") }
        func runTraining<T: RefScalar>(_: T.Type) throws {
            let trainer = try Trainer<T>(config: config, workdir: workdir, train: train, test: test)
            trainer.stopAfterEpochs = stop
            try trainer.run(overwrite: overwrite)
        }
        if config.dtype == "float64" { try runTraining(Double.self) } else { try runTraining(Float.self) }
        return 0
    }
}

/// `ref-run eval --config=FILE --checkpoint=PATH [--config.KEY=VALUE ...]`
enum EvalCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["config", "checkpoint", "threads", "test_examples"], command: "eval")
        guard let path = args.options["checkpoint"] else { throw UsageError("eval needs --checkpoint=PATH") }
        let config = try Config.load(file: args.options["config"], overrides: args.configOverrides)
        var test = try Datasets.load(config.dataset, split: .test, dataDir: config.dataDir)
        if let n = try args.int("test_examples") { test = test.prefix(n) }
        var checkpoint = path
        if isDirectory(path) {
            guard let newest = try Checkpoint.list(path).last else { throw UsageError("no checkpoint_* in \(path)") }
            checkpoint = newest.path
        }
        func evaluate<T: RefScalar>(_: T.Type) throws {
            let fresh = try config.model.initialize(seed: 0, imageShape: test.imageShape, T.self)
            let state = try Checkpoint.load(checkpoint, T.self).aligned(params: fresh.params, batchStats: fresh.batchStats, source: checkpoint)
            let pipeline = DataPipeline<T>(dataset: test, batchSize: config.batchSize, train: false, seed: UInt64(config.seed))
            let r = try config.model.evaluate(params: state.params, batchStats: state.batchStats, pipeline: pipeline,
                                              maxBatches: config.stepsPerEval > 0 ? config.stepsPerEval : nil)
            print("checkpoint \(checkpoint) (step \(state.step)), \(config.model), \(test.count) \(config.dataset) test examples")
            print(String(format: "Val: loss %.4f acc %.4f", r.loss, r.accuracy))
        }
        if config.dtype == "float64" { try evaluate(Double.self) } else { try evaluate(Float.self) }
        return 0
    }

    static func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
}
