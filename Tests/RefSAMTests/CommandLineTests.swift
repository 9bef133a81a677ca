import Foundation
import XCTest
@testable import RefSAM
@testable import ref_run

/// The command line's own wording: the flags it adds to library errors, and its exit statuses.
final class CommandLineTests: XCTestCase {
    func arguments(_ args: [String]) throws -> Arguments { try Arguments(args, booleans: RefRun.booleans) }

    /// A second fresh run over the first one's checkpoints is refused, and the message
    /// names the flags that resolve it; with --overwrite it runs.
    func testTrainOverAnExistingRunNamesTheFlags() throws {
        let workdir = try makeTemporaryDirectory("cli")
        let args = ["--workdir", workdir, "--config", Repo.config("mnist_mlp_small.py"), "--config.num_neurons=[4]",
                    "--config.num_epochs=1", "--config.data_dir=\(try tinyMNIST(train: 64, test: 32))"]
        XCTAssertEqual(try TrainCommand.run(try arguments(args)), 0)
        XCTAssertThrowsError(try TrainCommand.run(try arguments(args))) { e in
            XCTAssertTrue(e is CommandError, "\(e)")
            XCTAssertTrue("\(e)".contains("--overwrite") && "\(e)".contains("--config.restore_checkpoint=True"), "\(e)")
        }
        XCTAssertEqual(try TrainCommand.run(try arguments(args + ["--overwrite"])), 0)
    }

    /// 2 when the input is at fault, 1 when a valid run failed.
    func testExitStatusSaysWhoIsAtFault() {
        XCTAssertEqual(RefRun.exitStatus(for: ConfigError(file: nil, line: nil, key: "k", message: "m")), 2)
        XCTAssertEqual(RefRun.exitStatus(for: DataError.unusable("x")), 2)
        XCTAssertEqual(RefRun.exitStatus(for: TensorError.file(path: "p", reason: "r")), 2)
        XCTAssertEqual(RefRun.exitStatus(for: CheckpointError.malformed(file: "f", reason: "r")), 2)
        XCTAssertEqual(RefRun.exitStatus(for: RunError.tooLarge(model: "m", parameters: 1, bytesNeeded: 2, bytesAvailable: 1)), 2)
        XCTAssertEqual(RefRun.exitStatus(for: CommandError("over an existing run")), 2)
        XCTAssertEqual(RefRun.exitStatus(for: RunError.nonFinite(epoch: 1, step: 0, loss: .nan, lastCheckpoint: nil)), 1)
        XCTAssertEqual(RefRun.exitStatus(for: CheckpointError.io(file: "f", reason: "No space left on device")), 1)
    }

    /// Counts below 1 are usage errors naming the flag.
    func testExampleCountsMustBePositive() throws {
        let workdir = try makeTemporaryDirectory("cli")
        for flag in ["--train_examples", "--test_examples"] {
            let args = ["--workdir", workdir, "--config", Repo.config("mnist_mlp_small.py"), flag, "0"]
            XCTAssertThrowsError(try TrainCommand.run(try arguments(args))) { e in
                XCTAssertTrue(e is UsageError && "\(e)".contains(flag), "\(e)")
            }
        }
    }
}
