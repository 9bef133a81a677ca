import Foundation
import XCTest
@testable import RefSAM

/// Where the tests find the repository's files: found relative to this source file, so
/// the suite runs from any working directory and reads nothing outside the repository.
enum Repo {
    /// The repository root (this file is Tests/RefSAMTests/TestSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `relative` under the repository root, as a path.
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    static let fixtures = path("Fixtures")
    static let configs = path("configs")
    static let mnist = path("data/mnist")
    static let docs = path("docs")
    /// Files only the tests read (Flax checkpoints, gzip cases): Tests/RefSAMTests/Resources.
    static let resources = path("Tests/RefSAMTests/Resources")

    static func config(_ name: String) -> String { configs + "/" + name }
    static func resource(_ relative: String) -> String { resources + "/" + relative }
}

extension XCTestCase {
    /// A new, empty directory under the system temporary directory (`TMPDIR`), removed
    /// with everything in it when the current test ends, whether it passed or not.
    func makeTemporaryDirectory(_ label: String = "test") throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("refsam-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// The `ref-run` executable of this build: in the build products directory, which
    /// holds the test bundle (or, on Linux, is the bundle's URL).
    var refRun: URL {
        let bundle = Bundle(for: Self.self).bundleURL
        let beside = bundle.appendingPathComponent("ref-run")
        return FileManager.default.isExecutableFile(atPath: beside.path) ? beside
            : bundle.deletingLastPathComponent().appendingPathComponent("ref-run")
    }

    /// Runs the `ref-run` of this build with `args`; returns its exit status, standard
    /// output and standard error (read to the end before waiting, so a long output cannot
    /// block it).
    func runRefRun(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process(), out = Pipe(), err = Pipe()
        p.executableURL = refRun
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.standardOutput = out
        p.standardError = err
        try p.run()
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box(), group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outBox.data = out.fileHandleForReading.readDataToEndOfFile() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: outBox.data, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// The bytes of the file at `path`.
    func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
}

extension XCTestCase {
    /// A small MNIST-shaped dataset (raw IDX files: `train` training and `test` test
    /// images of seeded noise, labels cycling 0-9), for `config.data_dir`, so each ref-run
    /// process starts in milliseconds instead of decompressing the real 60,000 images
    /// (seconds in a debug build, more under the sanitizers).
    func tinyMNIST(train: Int = 128, test: Int = 64) throws -> String {
        let d = try makeTemporaryDirectory("tiny-mnist")
        var rng = RandomGenerator(seed: 9)
        for (name, n) in [("train", train), ("t10k", test)] {
            let images = (0..<n).map { _ in (0..<784).map { _ in UInt8(rng.uniform(below: 256)) } }
            try Data(DataTests.idx(images: images, rows: 28, cols: 28)).write(to: URL(fileURLWithPath: "\(d)/\(name)-images-idx3-ubyte"))
            try Data(DataTests.idxLabels((0..<n).map { UInt8($0 % 10) })).write(to: URL(fileURLWithPath: "\(d)/\(name)-labels-idx1-ubyte"))
        }
        return d
    }
}
