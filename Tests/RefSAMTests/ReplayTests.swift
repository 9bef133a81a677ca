import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMFixtures
@testable import RefTensor

/// `ref-run replay`: the reference's step on a fixture's inputs, written as a fixture
/// with its intermediates, each checked against its definition.
final class ReplayTests: XCTestCase {
    func load(_ dir: String, _ kind: String, _ name: String) throws -> Tensor<Double> {
        try Npy.read(contentsOf: dir + "/" + kind + "/" + name + ".npy").tensor(Double.self, name: name)
    }

    func testReplayWritesTheStepAndIntermediatesThatMeanWhatTheySay() throws {
        // ResNet18 with shards (per-shard statistics) and the MLP; ResNet50's shared-statistics path
        // records through the same StepRecord calls and is slow under the sanitizers.
        for (name, shards) in [("resnet18_nf2_sam_shards2_f64", 2), ("mlp_sam_f64", 1)] {
            let source = Repo.fixtures + "/" + name + "/step_000"
            let out = try makeTemporaryDirectory("replay") + "/ref"
            let f = try Fixture.load(source)
            let n = try FixtureReplay.writeReference(of: f, to: out)
            // The written fixture is this reference's own step: it replays exactly, and matches the source's outputs.
            let own = try FixtureReplay.replay(directory: out)
            XCTAssertTrue(own.passed, name)
            XCTAssertEqual(own.results.count, n.outputs)
            XCTAssertEqual(own.results.map(\.maxAbsoluteError).max(), 0, "\(name): a replay of its own output is exact")
            XCTAssertTrue(try FixtureReplay.replay(directory: source).passed)

            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/fixture.json"))) as! [String: Any]
            XCTAssertEqual((meta["intermediates"] as? [String])?.count, n.intermediates)
            let norms = try load(out, "intermediates", "grad_norm")
            XCTAssertEqual(norms.shape, [shards])
            let params = f.inputs.filter { $0.hasPrefix("params/") }.map { String($0.dropFirst(7)) }
            for d in 0..<shards {
                let prefix = shards > 1 ? "shard_\(d)/" : ""
                // ||e|| = rho for every shard.
                var e2 = 0.0
                for p in params { e2 += try load(out, "intermediates", prefix + "perturbation/" + p).scalars.reduce(0) { $0 + $1 * $1 } }
                XCTAssertEqual(e2.squareRoot(), f.step.rho, accuracy: 1e-12, "\(name) shard \(d)")
                XCTAssertGreaterThan(norms.scalars[d], 0)
            }
            // grads = sam_grads + weight_decay * params, element for element.
            for p in params {
                let g = try load(out, "outputs", "grads/" + p), s = try load(out, "intermediates", "sam_grads/" + p)
                let w = try load(source, "inputs", "params/" + p)
                for i in 0..<g.count { XCTAssertEqual(g.scalars[i], s.scalars[i] + f.step.weightDecay * w.scalars[i], accuracy: 1e-15 * max(1, abs(g.scalars[i]))) }
            }
            // Running statistics = 0.9 old + 0.1 * the first pass's batch moments (the mean over shards).
            for stat in f.inputs.filter({ $0.hasPrefix("batch_stats/") }).map({ String($0.dropFirst(12)) }).prefix(6) {
                let old = try load(source, "inputs", "batch_stats/" + stat), new = try load(out, "outputs", "batch_stats/" + stat)
                var moment = [Double](repeating: 0, count: old.count)
                for d in 0..<shards {
                    let m = try load(out, "intermediates", (shards > 1 ? "shard_\(d)/" : "") + "batch_moments_first/" + stat)
                    for i in 0..<m.count { moment[i] += m.scalars[i] / Double(shards) }
                }
                for i in 0..<old.count { XCTAssertEqual(new.scalars[i], 0.9 * old.scalars[i] + 0.1 * moment[i], accuracy: 1e-12, "\(name) \(stat)") }
            }
        }
    }

    func testReplayRefusesAnExistingFixtureAndAMalformedOne() throws {
        let dir = try makeTemporaryDirectory("replay-cli")
        func run(_ args: [String]) throws -> (Int32, String) { let r = try runRefRun(args); return (r.status, r.err) }
        let source = Repo.fixtures + "/mlp_sgd_f64/step_000"
        XCTAssertEqual(try run(["replay", source, "--out", dir + "/a"]).0, 0)
        let again = try run(["replay", source, "--out", dir + "/a"])
        XCTAssertEqual(again.0, 2); XCTAssertTrue(again.1.contains("already holds a fixture"), again.1)
        let missing = try run(["replay", dir + "/nothing", "--out", dir + "/b"])
        XCTAssertEqual(missing.0, 2); XCTAssertTrue(missing.1.contains(dir + "/nothing"), missing.1)
        let noOut = try run(["replay", source])
        XCTAssertEqual(noOut.0, 2); XCTAssertTrue(noOut.1.contains("--out"), noOut.1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/b"))
    }
}
