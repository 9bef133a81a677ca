import Foundation
import XCTest
@testable import RefSAM

/// Bad inputs through the real `ref-run` binary: the exit status (2: the input is at
/// fault) and a message on standard error that names the file, key or value.
final class ExitStatusTests: XCTestCase {
    /// Runs ref-run with `args`; returns (exit status, standard error).
    func run(_ args: [String]) throws -> (Int32, String) {
        let r = try runRefRun(args)
        return (r.status, r.err)
    }

    func assertRefused(_ args: [String], status: Int32 = 2, mentions parts: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let (code, text) = try run(args)
        XCTAssertEqual(code, status, "ref-run \(args.joined(separator: " ")): \(text)", file: file, line: line)
        for p in parts { XCTAssertTrue(text.contains(p), "stderr lacks '\(p)': \(text)", file: file, line: line) }
        XCTAssertFalse(text.contains("Fatal error") || text.contains("NSCocoaErrorDomain"), text, file: file, line: line)
    }

    func testBadInputsExitTwoNamingTheProblem() throws {
        let dir = try makeTemporaryDirectory("exit")
        let empty = dir + "/empty.py"
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        try assertRefused(["--workdir=\(dir)", "--config=\(empty)"], mentions: [empty, "config.model", "is required"])
        let mnist = Repo.config("mnist_mlp.py")
        try assertRefused(["--workdir=\(dir)", "--config=\(mnist)", "--config.num_neurons=[10000000]"],
                          mentions: ["parameters", "GB", "num_neurons"])
        try assertRefused(["--workdir=\(dir)", "--config=\(mnist)", "--config.rho=1e999"], mentions: ["--config.rho=1e999", "config.rho"])
        try assertRefused(["--workdir=\(dir)", "--config=\(mnist)", "--train_examples", "-5"], mentions: ["--train_examples"])
        try assertRefused(["bench", "gemm", "--m", "-5"], mentions: ["--m must be in 1...65536, got -5"])
        let nested = dir + "/nested.py"
        try ("config.num_neurons = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000))
            .write(toFile: nested, atomically: true, encoding: .utf8)
        try assertRefused(["--workdir=\(dir)", "--config=\(nested)"], mentions: [nested + ":1", "nested deeper"])
        let bomb = dir + "/checkpoint_1"
        try Data([0xdd, 0xff, 0xff, 0xff, 0xff]).write(to: URL(fileURLWithPath: bomb))
        try assertRefused(["eval", "--config=\(mnist)", "--checkpoint=\(bomb)", "--test_examples", "8"], mentions: [bomb, "longer than"])
        try assertRefused(["verify", dir], mentions: ["fixture.json"])
        try assertRefused(["eval", "--config=\(mnist)", "--checkpoint=\(bomb)", "--test_examples", "-3"], mentions: ["--test_examples"])
    }

    /// eval of a checkpoint of another model names the mismatch and the remedy.
    func testEvalOfAnotherModelNamesTheRemedy() throws {
        let dir = try makeTemporaryDirectory("exit")
        let model = Model(.mlp(numNeurons: [4]), numClasses: 10)
        let (params, stats) = try model.initialize(seed: 0, imageShape: [28, 28, 1], Float.self)
        let path = try Checkpoint.save(TrainState(params: params, batchStats: stats), directory: dir)
        try assertRefused(["eval", "--checkpoint=\(path)", "--test_examples", "8"],
                          mentions: [path, "Dense_2/kernel", "Give the config the checkpoint was trained with"])
    }

    /// A workdir that cannot be created is a failed run (1), worded without a Foundation dump.
    func testUnwritableWorkdirIsWorded() throws {
        let dir = try makeTemporaryDirectory("exit")
        let blocker = dir + "/file"
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data()))
        try assertRefused(["--workdir=\(blocker)/sub", "--config=\(Repo.config("mnist_mlp_small.py"))", "--train_examples", "8",
                           "--test_examples", "8"], status: 1, mentions: [blocker, "cannot create"])
    }
}
