import Foundation
import RefSAM

/// `ref-run [train] --workdir=DIR --config=FILE [--config.KEY=VALUE ...] [--overwrite] [--threads N]`
enum TrainCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["workdir", "config", "threads", "train_examples", "test_examples", "stop_after_epochs", "device"],
                       command: "train")
        let device = try DeviceOption.parse(args)
        guard let workdir = args.options["workdir"] else { throw UsageError("train needs --workdir=DIR") }
        guard let configPath = args.options["config"] else { throw UsageError("train needs --config=FILE") }
        let spec = RunSpec(config: try Config.load(file: configPath, overrides: args.configOverrides))
        let stop = try args.int("stop_after_epochs", in: 1...Int.max)
        let trainExamples = try args.int("train_examples", in: 1...Int.max)
        let testExamples = try args.int("test_examples", in: 1...Int.max)
        let overwrite = args.switches.contains("overwrite")
        func runTraining<T: RefScalar>(_: T.Type) throws {
            // A fresh start's state needs no data (SNIP's aside): it is made on another
            // thread while this one reads the data. (Resuming needs none.)
            let fresh = spec.restoreCheckpoint || spec.pruner == .snip
                ? nil : Pending { try spec.initialState(T.self, from: .fresh) }
            let (train, test) = try spec.loadData(trainExamples: trainExamples, testExamples: testExamples)
            let trainer = try Trainer<T>(spec: spec, workdir: workdir, train: train, test: test)
            if let fresh { trainer.freshState = { try fresh.value() } }
            trainer.observer = TerminalObserver()
            trainer.stopAfterEpochs = stop
            trainer.residentTrainer = device.residentTrainer(T.self)
            do {
                try trainer.run(overwrite: overwrite)
            } catch let e as RunError {
                if case .existingRun = e {
                    throw CommandError("\(e). Pass --overwrite to delete them and start over, or --config.restore_checkpoint=True to resume.")
                }
                throw e
            }
        }
        switch spec.dtype {
        case .float32: try runTraining(Float.self)
        case .float64: try runTraining(Double.self)
        }
        return 0
    }
}

/// `ref-run eval --config=FILE --checkpoint=PATH [--config.KEY=VALUE ...]`
enum EvalCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["config", "checkpoint", "threads", "test_examples"], command: "eval")
        guard let path = args.options["checkpoint"] else { throw UsageError("eval needs --checkpoint=PATH") }
        let spec = RunSpec(config: try Config.load(file: args.options["config"], overrides: args.configOverrides))
        let test = try spec.loadData(.test, examples: try args.int("test_examples", in: 1...Int.max))
        let checkpoint = try checkpointFile(path)
        func evaluate<T: RefScalar>(_: T.Type) throws {
            let state: TrainState<T>
            do {
                state = try spec.initialState(T.self, from: .checkpoint(checkpoint))
            } catch let e as CheckpointError {
                guard case .modelMismatch = e else { throw e }
                throw CommandError("\(e)\nGive the config the checkpoint was trained with: --config=FILE, "
                                   + "or --config.model / num_neurons / num_filters / dataset as in its run")
            }
            // A NaN weight would evaluate to a number that looks like a result.
            for (path, t) in state.params.entries {
                let bad = t.scalars.filter { !$0.isFinite }.count
                if bad > 0 {
                    throw CommandError("\(checkpoint): params/\(path) holds \(bad) NaN or infinite values of \(t.count); "
                                       + "the checkpoint comes from a run that diverged and cannot be evaluated")
                }
            }
            let pipeline: DataPipeline<T> = spec.testPipeline(test)
            let r = try spec.model.evaluate(params: state.params, batchStats: state.batchStats, pipeline: pipeline,
                                            maxBatches: spec.evaluationBatches)
            print("checkpoint \(checkpoint) (step \(state.step)), \(spec.model), \(test.count) \(spec.dataset.rawValue) test examples")
            print(String(format: "Val: loss %.4f acc %.4f", r.loss, r.accuracy))
        }
        switch spec.dtype {
        case .float32: try evaluate(Float.self)
        case .float64: try evaluate(Double.self)
        }
        return 0
    }

    /// PATH itself, or the newest checkpoint_* when PATH is a directory.
    static func checkpointFile(_ path: String) throws -> String {
        guard isDirectory(path) else { return path }
        guard let newest = try Checkpoint.list(path).last else { throw UsageError("no checkpoint_* in \(path)") }
        return newest.path
    }

    static func isDirectory(_ p: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: p, isDirectory: &d) && d.boolValue
    }
}

/// A value computed on another thread from now on; `value()` waits for it (and
/// rethrows what the computation threw).
final class Pending<Value>: @unchecked Sendable {
    private let done = DispatchGroup()
    private var result: Result<Value, Error>!     // written once before `done` leaves, read after wait()

    init(_ compute: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global().async(group: done) { self.result = Result { try compute() } }
    }

    func value() throws -> Value {
        done.wait()
        return try result.get()
    }
}
