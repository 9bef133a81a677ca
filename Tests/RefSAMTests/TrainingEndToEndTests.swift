import Foundation
import XCTest
@testable import RefSAM
@testable import RefTensor

/// A small MLP trained on an MNIST subset for a few epochs: the workdir, logs,
/// metrics and checkpoints; resuming; refusing to overwrite; stopping on NaN.
final class TrainingEndToEndTests: XCTestCase {
    static let data: ImageDataset = try! MNIST.load(split: .test, directories: [Repo.mnist])

    func config(_ extra: [(String, String)] = []) throws -> Config {
        try Config.load(file: nil, overrides: [("num_neurons", "[16]"), ("batch_size", "32"), ("num_epochs", "4"),
                                               ("log_every_steps", "4"), ("learning_rate", "0.1")] + extra)
    }

    func trainer(_ c: Config, _ workdir: String) throws -> Trainer<Float> {
        // 320 training examples (10 steps per epoch), 200 distinct test examples.
        try Trainer<Float>(spec: RunSpec(config: c), workdir: workdir, train: Self.data.subset(0..<320), test: Self.data.subset(9000..<9200))
    }

    func tempDir() throws -> String { try makeTemporaryDirectory("run") }

    func testRunWritesTheOriginalsLayoutLogsMetricsAndCheckpoints() throws {
        let workdir = try tempDir()
        let c = try config()
        let metrics = try trainer(c, workdir).run()
        let run = workdir + "/dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1"
        XCTAssertEqual(try Checkpoint.list(run).map(\.step), [20, 30, 40], "newest 3 of 4 epochs kept")
        let log = try String(contentsOfFile: run + "/log.txt", encoding: .utf8)
        XCTAssertTrue(log.contains("Epoch 1 / 4"), log)
        XCTAssertNotNil(log.range(of: #"Epoch\[1\] Step \[3/10\]: loss \d+\.\d{4} acc \d\.\d{4} \(time elapsed: "#, options: .regularExpression), log)
        XCTAssertNotNil(log.range(of: #"Train: loss \d\.\d{4} acc \d\.\d{4}; Val: loss \d\.\d{4} acc \d\.\d{4} \(lr 0\.1000 / took \d+\.\d\d seconds\)"#,
                                  options: .regularExpression), log)
        XCTAssertNotNil(log.range(of: #"Best test acc \d\.\d{4} at epoch [1-4]"#, options: .regularExpression), log)
        let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(Set(first.keys), ["epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "learning_rate", "seconds"])
        XCTAssertEqual(first["epoch"] as? Int, 1); XCTAssertEqual(first["step"] as? Int, 10)
        XCTAssertEqual(metrics.count, 4)
        XCTAssertGreaterThan(metrics.last!.testAccuracy, 0.5, "an MLP learns MNIST digits in 40 steps")
        XCTAssertLessThan(metrics.last!.trainLoss, metrics.first!.trainLoss)
        // step_mnist over 4 epochs of 10 steps: boundaries 10, 20, 30 -> the logged rate drops each epoch.
        XCTAssertEqual(metrics.map(\.learningRate), [0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1 * 0.1].map { $0 }, "")
        // The final checkpoint holds the final state, in Flax's layout.
        let state = try Checkpoint.load(run + "/checkpoint_40", Float.self)
        XCTAssertEqual(state.step, 40)
        // Keys sorted as Flax writes them (Resources/flax/mlp/checkpoint_200 has bias before kernel).
        XCTAssertEqual(state.params.paths, ["Dense_0/bias", "Dense_0/kernel", "Dense_1/bias", "Dense_1/kernel"])
    }

    /// Interrupted after epoch 2 and resumed == never interrupted, bit for bit.
    func testResumeIsBitIdentical() throws {
        let straight = try tempDir(), interrupted = try tempDir()
        let c = try config()
        let a = try trainer(c, straight).run()
        let first = try trainer(c, interrupted)
        first.stopAfterEpochs = 2
        XCTAssertEqual(try first.run().count, 2)
        let b = try trainer(try config([("restore_checkpoint", "True")]), interrupted).run()
        XCTAssertEqual(a.map(\.testLoss), b.map(\.testLoss))
        XCTAssertEqual(a.map(\.trainLoss), b.map(\.trainLoss))
        let suffix = "/" + c.runDirectorySuffix + "/checkpoint_40"
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: straight + suffix)), try Data(contentsOf: URL(fileURLWithPath: interrupted + suffix)))
        // "Best test acc" after the resume counts the epochs before it too (the original restarts from -1).
        let best = b.max { $0.testAccuracy < $1.testAccuracy }!
        let log = try String(contentsOfFile: interrupted + "/" + c.runDirectorySuffix + "/log.txt", encoding: .utf8)
        XCTAssertTrue(log.hasSuffix(String(format: "Best test acc %.4f at epoch %d\n", best.testAccuracy, best.epoch)), log)
    }

    /// A fresh state made ahead (`freshState`, as `ref-run train` makes it on another
    /// thread while the data is read) gives the same run, bit for bit; a resumed run
    /// never asks for it.
    func testFreshStateMadeAheadGivesTheSameRun() throws {
        let plain = try tempDir(), ahead = try tempDir()
        let c = try config([("num_epochs", "2")])
        let a = try trainer(c, plain).run()
        let t = try trainer(c, ahead)
        var calls = 0
        let spec = t.spec
        t.freshState = { calls += 1; return try spec.initialState(Float.self, from: .fresh) }
        t.stopAfterEpochs = 1
        try t.run()
        XCTAssertEqual(calls, 1)
        let resumed = try trainer(try config([("num_epochs", "2"), ("restore_checkpoint", "True")]), ahead)
        resumed.freshState = { XCTFail("a resumed run made a fresh state"); return try spec.initialState(Float.self, from: .fresh) }
        let b = try resumed.run()
        XCTAssertEqual(a.map(\.testLoss), b.map(\.testLoss))
        let suffix = "/" + c.runDirectorySuffix + "/checkpoint_20"
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: plain + suffix)), try Data(contentsOf: URL(fileURLWithPath: ahead + suffix)))
    }

    /// `best_since_resume = True`: the original's line, the best of the epochs after the
    /// resume only. Epoch 1 is made unbeatable (test accuracy 1 in metrics.jsonl), so
    /// counting it would name it.
    func testBestSinceResumeCountsOnlyThisRunsEpochs() throws {
        let dir = try tempDir()
        let c = try config()
        let first = try trainer(c, dir)
        first.stopAfterEpochs = 2
        try first.run()
        let metrics = dir + "/" + c.runDirectorySuffix + "/metrics.jsonl"
        var lines = try String(contentsOfFile: metrics, encoding: .utf8).split(separator: "\n").map(String.init)
        var e1 = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        e1["test_accuracy"] = 1.0
        lines[0] = String(decoding: try JSONSerialization.data(withJSONObject: e1, options: [.sortedKeys]), as: UTF8.self)
        try (lines.joined(separator: "\n") + "\n").write(toFile: metrics, atomically: true, encoding: .utf8)

        let after = try trainer(try config([("restore_checkpoint", "True"), ("best_since_resume", "True")]), dir).run()
        XCTAssertEqual(after.count, 4)
        XCTAssertEqual(after[0].testAccuracy, 1.0)
        let best = after[2...].max { $0.testAccuracy < $1.testAccuracy }!
        let log = try String(contentsOfFile: dir + "/" + c.runDirectorySuffix + "/log.txt", encoding: .utf8)
        XCTAssertTrue(log.hasSuffix(String(format: "Best test acc %.4f at epoch %d\n", best.testAccuracy, best.epoch)), log)
        XCTAssertLessThan(best.testAccuracy, 1.0)
    }

    /// `consume_mask_batch = True`: update s trains on batch s + 1 of the stream of
    /// epochs (the original takes batch 0 for the pruning mask). Replayed by hand.
    func testConsumeMaskBatchShiftsTheStreamByOneBatch() throws {
        let dir = try tempDir()
        let c = try config([("consume_mask_batch", "True"), ("num_epochs", "2"), ("pruner", "snip"), ("sparsity", "0.5")])
        let t = try trainer(c, dir)
        try t.run()
        let spec = RunSpec(config: c)
        let p = t.trainPipeline, n = p.batchesPerEpoch
        let orders = [p.order(epoch: 0), p.order(epoch: 1), p.order(epoch: 2)]
        func stream(_ g: Int) -> (images: Tensor<Float>, labels: [Int32]) { p.batch(epoch: g / n, index: g % n, order: orders[g / n]) }
        var state = try spec.initialState(Float.self, from: .fresh) { stream(0) }
        let schedule = spec.schedule(stepsPerEpoch: n)
        for s in 0..<(2 * n) {
            let (x, y) = stream(s + 1)
            state = try TrainStep.run(spec.model, state: state, images: x, labels: y,
                                      spec.hyperparameters(learningRate: schedule(state.step), batchCount: y.count)).state
        }
        let saved = try Checkpoint.load(dir + "/" + c.runDirectorySuffix + "/checkpoint_\(2 * n)", Float.self)
        for (path, t) in state.params.entries {
            XCTAssertTrue(saved.params[path]?.scalars == t.scalars, "\(path): the run is not the stream shifted by one batch")
        }
        // And it is not the default stream.
        let plainConfig = try config([("num_epochs", "2"), ("pruner", "snip"), ("sparsity", "0.5")])
        let plainDir = try tempDir()
        try trainer(plainConfig, plainDir).run()
        let plain = try Checkpoint.load(plainDir + "/" + plainConfig.runDirectorySuffix + "/checkpoint_\(2 * n)", Float.self)
        XCTAssertFalse(plain.params.entries.allSatisfy { saved.params[$0.path]?.scalars == $0.tensor.scalars }, "the shift changes the run")
    }

    /// A resume keeps every metrics line whatever its values (NaN is written as null and
    /// read back as NaN) and removes the temporary files a killed write left.
    func testResumeKeepsNullMetricsAndRemovesStaleTemporaries() throws {
        let workdir = try tempDir()
        let t = try trainer(try config([("num_epochs", "2")]), workdir)
        t.stopAfterEpochs = 1
        try t.run()
        let run = workdir + "/" + (try config()).runDirectorySuffix
        let metrics = run + "/metrics.jsonl"
        var text = try String(contentsOfFile: metrics, encoding: .utf8)
        text = text.replacingOccurrences(of: #""test_loss":[0-9.e+-]+"#, with: #""test_loss":null"#, options: .regularExpression)
        try text.write(toFile: metrics, atomically: false, encoding: .utf8)
        for stale in ["checkpoint_20.tmp-4242", ".dat.nosync1a2b", "metrics.jsonl.tmp-77"] {
            FileManager.default.createFile(atPath: run + "/" + stale, contents: Data([1, 2, 3]))
        }
        let history = try trainer(try config([("num_epochs", "2"), ("restore_checkpoint", "True")]), workdir).run()
        XCTAssertEqual(history.count, 2)
        XCTAssertTrue(history[0].testLoss.isNaN, "the null test loss of epoch 1 survives as NaN")
        XCTAssertTrue(try String(contentsOfFile: metrics, encoding: .utf8).hasPrefix(#"{"epoch":1,"learning_rate""#))
        XCTAssertTrue(try String(contentsOfFile: metrics, encoding: .utf8).contains(#""test_loss":null"#))
        let left = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.contains(".tmp-") || $0.contains("nosync") }
        XCTAssertEqual(left, [])
    }

    /// Images of another size than the config's dataset are refused up front, naming both shapes.
    func testImagesOfAnotherShapeAreNamed() throws {
        let small = ImageDataset(name: .mnist, pixels: [UInt8](repeating: 0, count: 4 * 100), labels: [0, 1, 2, 3],
                                 imageShape: [10, 10, 1], numClasses: 10)
        XCTAssertThrowsError(try Trainer<Float>(spec: RunSpec(config: try config()), workdir: try tempDir(), train: small, test: small)) { e in
            XCTAssertEqual(e as? RunError, .dataMismatch(dataset: "mnist", expected: [28, 28, 1], got: [10, 10, 1]))
            XCTAssertTrue("\(e)".contains("[10, 10, 1]") && "\(e)".contains("[28, 28, 1]"), "\(e)")
        }
    }

    func testRefusesToStartOverExistingCheckpointsUnlessOverwrite() throws {
        let workdir = try tempDir()
        let c = try config([("num_epochs", "1")])
        try trainer(c, workdir).run()
        XCTAssertThrowsError(try trainer(c, workdir).run()) { e in
            guard case let RunError.existingRun(_, checkpoints) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(checkpoints, ["checkpoint_10"])
        }
        XCTAssertEqual(try trainer(c, workdir).run(overwrite: true).count, 1)
    }

    /// A run whose loss turns NaN stops with an error naming epoch and step, and the
    /// last good checkpoint stays as it was. (The NaN is planted in the checkpoint the
    /// run resumes from; changing learning_rate instead would change the run directory.)
    func testNaNStopsTheRunNamingEpochAndStepAndKeepsTheLastCheckpoint() throws {
        let workdir = try tempDir()
        let c = try config([("num_epochs", "3")])
        let t = try trainer(c, workdir)
        t.stopAfterEpochs = 1
        try t.run()
        let run = workdir + "/" + c.runDirectorySuffix
        var state = try Checkpoint.load(run + "/checkpoint_10", Float.self)
        var bias = state.params["Dense_1/bias"]!
        bias.scalars[0] = .nan
        state.params["Dense_1/bias"] = bias
        try Checkpoint.save(state, directory: run)
        let before = try Data(contentsOf: URL(fileURLWithPath: run + "/checkpoint_10"))
        XCTAssertThrowsError(try trainer(try config([("num_epochs", "3"), ("restore_checkpoint", "True")]), workdir).run()) { e in
            guard case let RunError.nonFinite(epoch, step, _, last) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(epoch, 2)
            XCTAssertEqual(step, 0)
            XCTAssertEqual(last.map { ($0 as NSString).lastPathComponent }, "checkpoint_10")
            XCTAssertTrue("\(e)".contains("epoch 2, step 0"), "\(e)")
        }
        XCTAssertEqual(try Checkpoint.list(run).map(\.step), [10])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: run + "/checkpoint_10")), before)
    }
}
