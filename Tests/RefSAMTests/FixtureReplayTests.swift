import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMTraining
@testable import RefSAMFixtures
@testable import RefTensor

/// Replays every committed fixture (written by PyTorch, tools/make_fixtures_torch.py)
/// at the default tolerances: float64 rtol 1e-9 / atol 1e-12, float32 the conditioned
/// tolerance (`Tolerance`).
final class FixtureReplayTests: XCTestCase {
    static let root = URL(fileURLWithPath: Repo.fixtures)

    static func fixtureDirectories() -> [String] {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root.path) else { return [] }
        var dirs: [String] = []
        for case let rel as String in e where rel.hasSuffix("fixture.json") {
            dirs.append(root.appendingPathComponent((rel as NSString).deletingLastPathComponent).path)
        }
        return dirs.sorted()
    }

    func testEveryCommittedFixtureReplays() throws {
        let dirs = Self.fixtureDirectories()
        XCTAssertGreaterThanOrEqual(dirs.count, 15, "the committed fixtures are missing from \(Self.root.path)")
        for dir in dirs {
            let f = try Fixture.load(dir)
            let results = try FixtureReplay.verify(f)
            XCTAssertEqual(results.count, f.outputs.count)
            let worst = results.max { $0.maxRelativeError < $1.maxRelativeError }
            let worstAbs = results.map(\.maxAbsoluteError).max() ?? .nan
            print("FIXTURE \(dir.replacingOccurrences(of: Self.root.path + "/", with: "")) [\(f.dtype.rawValue)]: "
                  + "\(results.count) outputs, worst rel \(worst?.maxRelativeError ?? .nan) (\(worst?.name ?? "")), worst abs \(worstAbs)")
            for r in results where !r.passed {
                XCTFail("\(dir): \(r.name) \(r.shape): \(r.problem ?? "max abs \(r.maxAbsoluteError), max rel \(r.maxRelativeError)")")
            }
        }
    }

    /// The ResNet50 shard fixtures tell the original's step (statistics shared by all
    /// shards, every shard's loss reaching every copy) from one whose shards keep their
    /// own statistics, as ResNet18's do: the latter fails them far outside the tolerance.
    func testResNet50ShardFixturesNeedSharedStatistics() throws {
        for name in ["resnet50_nf2_sam_shards2_f64", "resnet50_nf2_sgd_shards2_f64"] {
            let f = try Fixture.load(Self.root.appendingPathComponent(name).appendingPathComponent("step_000").path)
            XCTAssertTrue(f.model.batchNormSpansShards)
            XCTAssertGreaterThan(f.step.samShards, 1)
            let (state, images, labels) = try f.loadInputs(Double.self)
            let shared = try TrainStep.run(f.model, state: state, images: images, labels: labels, f.step)
            var copy = state
            let apart = try TrainStep.runShardByShard(f.model, state: &copy, images: images, labels: labels, f.step)
            func expected(_ name: String) throws -> Tensor<Double> {
                try Npy.read(contentsOf: f.tensorPath("outputs", name)).tensor(Double.self, name: name)
            }
            let want = try expected("loss").scalar
            XCTAssertEqual(shared.loss, want, accuracy: 1e-9 * abs(want))
            XCTAssertGreaterThan(abs(apart.loss - want), 1e-3 * abs(want), "\(name): per-shard statistics must not pass")
            let path = "conv_init/kernel"
            let g = try expected("grads/" + path), gApart = try XCTUnwrap(apart.grads[path])
            let diff = zip(g.scalars, gApart.scalars).map { abs($0 - $1) }.max() ?? 0
            XCTAssertGreaterThan(diff, 1e-3 * (g.scalars.map(abs).max() ?? 0), "\(name): gradients with per-shard statistics")
        }
    }
}
