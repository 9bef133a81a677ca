import Foundation
import XCTest
@testable import RefSAM

/// A training run killed with SIGKILL at many moments, each time resumed with
/// `restore_checkpoint=True`, ends with a final checkpoint bit-identical to a run never
/// interrupted, and leaves no temporary file behind. Runs the `ref-run` binary built
/// beside this test bundle.
final class CrashResumeTests: XCTestCase {
    /// MNIST-shaped noise (`tinyMNIST`): the run's time goes to training, not to decompressing MNIST.
    var dataDir = ""

    override func setUpWithError() throws { dataDir = try tinyMNIST(train: 384, test: 64) }

    func arguments(_ workdir: String, resume: Bool) -> [String] {
        ["--workdir=\(workdir)", "--config=\(Repo.config("mnist_mlp_small.py"))", "--config.num_neurons=[8]",
         "--config.num_epochs=6", "--config.log_every_steps=1000", "--config.data_dir=\(dataDir)",
         "--threads", "2"] + (resume ? ["--config.restore_checkpoint=True"] : [])
    }

    /// Starts ref-run; kills it after `killAfter` seconds unless it ends first. Returns its exit status (nil: killed).
    func run(_ args: [String], killAfter: Double?) throws -> Int32? {
        let p = Process()
        p.executableURL = refRun
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        if let killAfter {
            let deadline = Date().addingTimeInterval(killAfter)
            while p.isRunning && Date() < deadline { usleep(2_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); return nil }
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    func testKilledAndResumedRunMatchesAnUninterruptedOne() throws {
        guard FileManager.default.isExecutableFile(atPath: refRun.path) else {
            return XCTFail("ref-run is not built beside the tests at \(refRun.path)")
        }
        let straight = try makeTemporaryDirectory("straight"), killed = try makeTemporaryDirectory("killed")
        let start = Date()
        XCTAssertEqual(try run(arguments(straight, resume: false), killAfter: nil), 0)
        let duration = Date().timeIntervalSince(start)
        let suffix = "dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1"
        let final = "/\(suffix)/checkpoint_18"
        let expected = try Data(contentsOf: URL(fileURLWithPath: straight + final))

        // Kill points spread over the run (start-up, steps, evaluation, checkpoint writes), then
        // resume until the run completes. The first start is fresh, the rest resume.
        var kills = 0, attempts = 0, resume = false
        let fractions = [0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9]
        while attempts < 40 {
            let delay = attempts < fractions.count ? fractions[attempts] * duration : nil
            let status = try run(arguments(killed, resume: resume), killAfter: delay)
            attempts += 1
            if status == nil { kills += 1 } else { XCTAssertEqual(status, 0); break }
            // A fresh start that was killed before its first checkpoint starts fresh again.
            resume = try !Checkpoint.list(killed + "/" + suffix).isEmpty
            if !resume { try? FileManager.default.removeItem(atPath: killed + "/dataset_mnist") }
        }
        XCTAssertGreaterThan(kills, 2, "the run ended before most kill points; the test did not interrupt it")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: killed + final)), expected, "final checkpoint after \(kills) kills")
        let left = try FileManager.default.contentsOfDirectory(atPath: killed + "/" + suffix)
            .filter { $0.contains(DurableFile.temporaryMarker) || $0.contains("nosync") }
        XCTAssertEqual(left, [], "temporary files left behind")
        // The metrics of every epoch are there once, in order.
        let lines = try String(contentsOfFile: killed + "/" + suffix + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
    }

    /// What a kill inside a checkpoint write leaves (a partial temporary file beside the
    /// good checkpoints) is cleaned up, and the run resumes from the last good checkpoint.
    func testPartialCheckpointWriteIsDiscardedOnResume() throws {
        let workdir = try makeTemporaryDirectory("partial")
        var args = arguments(workdir, resume: false)
        args[3] = "--config.num_epochs=2"
        XCTAssertEqual(try run(args, killAfter: nil), 0)
        let dir = workdir + "/dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1"
        let good = try Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoint_6"))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/checkpoint_9" + DurableFile.temporaryMarker + "31337", contents: good.prefix(100)))
        args = arguments(workdir, resume: true)
        args[3] = "--config.num_epochs=3"
        XCTAssertEqual(try run(args, killAfter: nil), 0)
        XCTAssertEqual(try Checkpoint.list(dir).map(\.step), [3, 6, 9])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(DurableFile.temporaryMarker) }, [])
        XCTAssertEqual(try Checkpoint.load(dir + "/checkpoint_9", Float.self).step, 9)
    }
}
