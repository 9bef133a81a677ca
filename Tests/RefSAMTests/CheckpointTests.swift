import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMCheckpoint
@testable import RefTensor

/// Checkpoints: Flax-written files (tools/make_flax_checkpoints.py, flax 0.12.8) read
/// and evaluated against JAX's own numbers; ours written atomically and read back exactly.
final class CheckpointTests: XCTestCase {
    static let resources = URL(fileURLWithPath: Repo.resource("flax"))

    func testFlaxMLPCheckpointEvaluatesAsJAXDid() throws {
        let dir = Self.resources.appendingPathComponent("mlp")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as! [String: Any]
        let model = Model(.mlp(numNeurons: [16]), numClasses: 10)
        let fresh = try model.initialize(seed: 0, imageShape: [28, 28, 1], Float.self)
        let raw = try Checkpoint.load(dir.appendingPathComponent("checkpoint_200").path, Float.self)
        XCTAssertEqual(Set(raw.params.paths), ["Dense_0/kernel", "Dense_0/bias", "Dense_1/kernel", "Dense_1/bias"])
        let state = try raw.aligned(params: fresh.params, batchStats: fresh.batchStats, source: "mlp")
        XCTAssertEqual(state.params.paths, fresh.params.paths)
        XCTAssertEqual(state.step, 200)
        // A checkpoint of another model is refused, naming the difference.
        let other = try Model(.mlp(numNeurons: [17]), numClasses: 10).initialize(seed: 0, imageShape: [28, 28, 1], Float.self)
        XCTAssertThrowsError(try raw.aligned(params: other.params, batchStats: other.batchStats, source: "mlp")) { e in
            XCTAssertTrue("\(e)".contains("Dense_0/kernel") && "\(e)".contains("[784, 17]"), "\(e)")
        }
        let mask = try XCTUnwrap(state.mask, "the original stores bool masks; 20% of each kernel is pruned")
        XCTAssertEqual(mask["Dense_0/kernel"]!.scalars.filter { $0 == 0 }.count, Int(0.2 * 784 * 16) + 1)
        XCTAssertTrue(state.trace["Dense_0/kernel"]!.scalars.contains { $0 != 0 }, "momentum trace restored")
        let test = try MNIST.load(split: .test, directories: [Repo.mnist]).prefix(1000)
        let r = try model.evaluate(params: state.params, batchStats: state.batchStats,
                                   pipeline: DataPipeline<Float>(dataset: test, batchSize: 128, train: false, seed: 0))
        XCTAssertEqual(r.loss, expected["loss"] as! Double, accuracy: 1e-5)
        XCTAssertEqual(r.accuracy, expected["accuracy"] as! Double, accuracy: 1e-6)
    }

    /// Eval-mode logits (running statistics, SAME max pool, bottlenecks) against Flax's.
    func testFlaxResNetCheckpointsGiveFlaxLogits() throws {
        for (name, model) in [("resnet18", Model(.resNet18(numFilters: 2), numClasses: 10)),
                              ("resnet50", Model(.resNet50ImageNet(numFilters: 2), numClasses: 10))] {
            let dir = Self.resources.appendingPathComponent(name)
            let cp = try Checkpoint.list(dir.path).last!.path
            let fresh = try model.initialize(seed: 0, imageShape: name == "resnet18" ? [32, 32, 3] : [40, 40, 3], Float.self)
            let state = try Checkpoint.load(cp, Float.self).aligned(params: fresh.params, batchStats: fresh.batchStats, source: cp)
            XCTAssertEqual(state.step, 3)
            XCTAssertFalse(state.batchStats.isEmpty)
            let images = try Npy.read(contentsOf: dir.appendingPathComponent("images.npy").path).tensor(Float.self)
            let expected = try Npy.read(contentsOf: dir.appendingPathComponent("logits.npy").path).tensor(Float.self)
            let logits = try model.logits(params: state.params, batchStats: state.batchStats, images: images)
            let d = logits.maxDifference(expected)
            print("FLAX \(name) eval logits: max abs \(d.absolute), max rel \(d.relative)")
            XCTAssertTrue(logits.isClose(to: expected, rtol: 1e-4, atol: 1e-5), "\(name): max abs \(d.absolute)")
        }
    }

    func tempDir() throws -> String { try makeTemporaryDirectory("ckpt") }

    func testRoundTripKeepsEveryBitAndTheNewestThree() throws {
        let model = Model(.resNet18(numFilters: 2), numClasses: 10)
        let (params, stats) = try model.initialize(seed: 1, imageShape: [32, 32, 3], Float.self)
        var rng = RandomGenerator(seed: 2)
        let mask = params.map { p, t in Pruning.isKernel(p) ? Tensor(shape: t.shape, scalars: t.scalars.map { _ in rng.uniform() < 0.5 ? 0 : 1 }) : .ones(t.shape) }
        var state = TrainState(params: params, batchStats: stats, trace: params.map { _, t in Tensor(shape: t.shape, scalars: t.scalars.map { $0 * 0.5 }) },
                               mask: mask, step: 0)
        let dir = try tempDir()
        for step in [10, 20, 30, 40, 50] {
            state.step = step
            try Checkpoint.save(state, directory: dir)
        }
        XCTAssertEqual(try Checkpoint.list(dir).map(\.step), [30, 40, 50])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp") }, [])
        // The file holds Flax's sorted order; aligned to the model it is the state saved, bit for bit.
        let back = try Checkpoint.load(dir + "/checkpoint_50", Float.self)
        XCTAssertEqual(back.params.paths, state.params.paths.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        XCTAssertEqual(try back.aligned(params: params, batchStats: stats, source: "checkpoint_50"), state)
        let asDouble = try Checkpoint.load(dir + "/checkpoint_50", Double.self)
        XCTAssertEqual(asDouble.params["conv_init/kernel"]!.scalars, state.params["conv_init/kernel"]!.scalars.map(Double.init))
    }

    /// msgpack written back after reading is byte-identical to what Flax wrote (minimal
    /// integer forms, key order kept), for the three Flax-written checkpoints.
    func testFlaxCheckpointBytesRoundTrip() throws {
        for name in ["mlp/checkpoint_200", "resnet18/checkpoint_3", "resnet50/checkpoint_3"] {
            let bytes = try readBytes(Repo.resource("flax/" + name))
            let value = try MessagePack.decode(bytes)
            XCTAssertTrue(value.encoded() == bytes, "\(name): re-encoded bytes differ from Flax's")
            // The ndarray payloads inside (extension type 1) round-trip too.
            func payloads(_ v: MessagePack) -> [[UInt8]] {
                switch v {
                case let .map(pairs): return pairs.flatMap { payloads($0.1) }
                case let .ext(_, data): return [data]
                default: return []
                }
            }
            for p in payloads(value) { XCTAssertTrue(try MessagePack.decode(p).encoded() == p, "\(name): an ndarray payload differs") }
        }
        // Minimal forms at the boundaries (msgpack spec).
        let cases: [(Int64, [UInt8])] = [(127, [0x7f]), (128, [0xcc, 0x80]), (255, [0xcc, 0xff]), (256, [0xcd, 0x01, 0x00]),
                                         (784, [0xcd, 0x03, 0x10]), (65536, [0xce, 0, 1, 0, 0]), (1 << 32, [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]),
                                         (-32, [0xe0]), (-33, [0xd0, 0xdf]), (-129, [0xd1, 0xff, 0x7f]), (-32769, [0xd2, 0xff, 0xff, 0x7f, 0xff])]
        for (v, expected) in cases { XCTAssertEqual(MessagePack.int(v).encoded(), expected, "\(v)") }
    }

    /// A ref-run checkpoint is byte-identical to Flax's for the same tree: a Flax file,
    /// read, put in the model's order (as a run holds it) and written back, gives the same bytes.
    func testCheckpointsAreByteIdenticalToFlaxs() throws {
        let models: [(String, Model, [Int])] = [("mlp/checkpoint_200", Model(.mlp(numNeurons: [16]), numClasses: 10), [28, 28, 1]),
                                                ("resnet18/checkpoint_3", Model(.resNet18(numFilters: 2), numClasses: 10), [32, 32, 3]),
                                                ("resnet50/checkpoint_3", Model(.resNet50ImageNet(numFilters: 2), numClasses: 10), [64, 64, 3])]
        for (name, model, shape) in models {
            let path = Repo.resource("flax/" + name)
            let fresh = try model.initialize(seed: 0, imageShape: shape, Float.self)
            let state = try Checkpoint.load(path, Float.self).aligned(params: fresh.params, batchStats: fresh.batchStats, source: path)
            XCTAssertNotEqual(state.params.paths, state.params.paths.sorted(), "\(name): the model's order should differ from Flax's")
            XCTAssertTrue(Checkpoint.encode(state) == (try readBytes(path)), "\(name): bytes differ from Flax's")
        }
    }

    func testMalformedCheckpointsAreNamed() throws {
        let dir = try tempDir()
        let path = dir + "/checkpoint_1"
        try Data([0x93, 0x01]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.load(path, Float.self)) { e in XCTAssertTrue("\(e)".contains(path), "\(e)") }
        try Data(MessagePack.map([(.string("step"), .int(1))]).encoded()).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Checkpoint.load(path, Float.self)) { e in XCTAssertTrue("\(e)".contains("params"), "\(e)") }
    }
}
