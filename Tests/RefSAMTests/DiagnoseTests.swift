import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMFixtures

/// `ref-run diagnose` against steps with one planted bug, written by PyTorch
/// (tools/make_bug_fixtures_torch.py, Resources/bugs/<variant>/, and under `sam_shards` 2
/// Resources/bugs-shards/<model>-<variant>/): verify fails each, and diagnose names
/// exactly the planted variant.
final class DiagnoseTests: XCTestCase {
    static let bugs = Repo.resources + "/bugs"
    static let shardBugs = Repo.resources + "/bugs-shards"

    func testEveryPlantedBugFailsAndIsNamed() throws {
        let planted = try FileManager.default.contentsOfDirectory(atPath: Self.bugs).sorted()
        XCTAssertEqual(Set(planted), Set(StepVariant.allCases.map(\.rawValue)), "one PyTorch fixture per variant")
        for name in planted {
            let variant = try XCTUnwrap(StepVariant(rawValue: name))
            guard let d = try checkPlanted(Self.bugs + "/" + name + "/step_000", variant) else { continue }
            XCTAssertGreaterThan(d.failingAsIs, 0)
            if variant == .noNormEpsilon {
                // 0 / 0: NaN everywhere after the perturbation. PyTorch's ReLU gradient passes NaN on
                // (where(x <= 0, 0, g)); JAX's and this reference's give 0 for a NaN input
                // (where(x > 0, g, 0)), so some NaN gradients here are zeros there: the
                // variant is the closest, not a full match.
                XCTAssertEqual(d.variants.first?.variant, .noNormEpsilon, "\(d.variants)")
                XCTAssertLessThan(d.variants[0].failing, d.variants[1].failing)
            } else {
                XCTAssertEqual(d.matches, [variant], "\(name): \(d.variants.prefix(3))")
            }
        }
    }

    /// Both ways of sharding: shard by shard (MLP, ResNet18) and with BatchNorm statistics
    /// shared across shards (ResNet50, whose unbiased variance takes n over all shards' rows).
    func testPlantedBugsUnderShardsAreNamed() throws {
        let planted = try FileManager.default.contentsOfDirectory(atPath: Self.shardBugs).sorted()
        XCTAssertEqual(planted.count, 4)
        for name in planted {
            let dir = Self.shardBugs + "/" + name + "/step_000"
            XCTAssertEqual(try Fixture.load(dir).step.samShards, 2, name)
            let variant = try XCTUnwrap(StepVariant(rawValue: String(name.split(separator: "-", maxSplits: 1)[1])), name)
            guard let d = try checkPlanted(dir, variant) else { continue }
            XCTAssertEqual(d.matches, [variant], "\(name): \(d.variants.prefix(3))")
        }
    }

    /// Verify fails the planted bug in `dir`. For a ResNet (slow in a debug build) the
    /// planted variant explains every output, which the unchanged step does not; `ref-run
    /// diagnose` on it names only the planted one (run by hand: docs/FIXTURES.md,
    /// "Diagnosing"), and nil is returned. For an MLP, the diagnosis to check.
    func checkPlanted(_ dir: String, _ variant: StepVariant, file: StaticString = #filePath, line: UInt = #line) throws -> Diagnosis? {
        let f = try Fixture.load(dir)
        XCTAssertFalse(try FixtureReplay.replay(directory: dir).passed, "\(dir): verify must fail a planted bug", file: file, line: line)
        guard f.model.name == .mlp else {
            let ours = try StepVariant.outputs(f, variant, Double.self)
            XCTAssertTrue(try FixtureReplay.compare(f, ours, .elementwise(rtol: 1e-9, atol: 1e-12)).allSatisfy(\.passed), dir,
                          file: file, line: line)
            return nil
        }
        return try Diagnosis.of(f)
    }

    func testACorrectFixtureHasNothingToDiagnose() throws {
        for name in ["mlp_sam_f64", "mlp_sam_shards2_f64"] {
            let d = try Diagnosis.of(try Fixture.load(Repo.fixtures + "/\(name)/step_000"))
            XCTAssertEqual(d.failingAsIs, 0, name)
            // Variants that change an MLP's step fail a correct one (those about BatchNorm and padding do not apply to it).
            for v in [StepVariant.weightDecayAtAscentPoint, .nesterov, .perLayerNorm, .optimizerSwapped] {
                XCTAssertGreaterThan(d.variants.first { $0.variant == v }!.failing, 0, "\(name): \(v)")
            }
        }
    }

    func testExitStatus() throws {
        func status(_ args: [String]) throws -> (Int32, String) { let r = try runRefRun(args); return (r.status, r.out) }
        let bug = try status(["diagnose", Self.bugs + "/nesterov/step_000"])
        XCTAssertEqual(bug.0, 1); XCTAssertTrue(bug.1.contains("every output passes under:\n  nesterov"), bug.1)
        XCTAssertEqual(try status(["diagnose", Repo.fixtures + "/mlp_sgd_f64/step_000"]).0, 0)
        XCTAssertEqual(try status(["diagnose", Repo.fixtures + "/mlp_sam_shards2_f64/step_000"]).0, 0)
        XCTAssertEqual(try status(["diagnose", Repo.fixtures + "/no_such_fixture"]).0, 2)
        // Shards that do not divide the batch: malformed, as verify says, not a diagnosis of truncated shards.
        let d = try makeTemporaryDirectory("diagnose") + "/f"
        try FileManager.default.copyItem(atPath: Repo.fixtures + "/mlp_sam_f64/step_000", toPath: d)
        let url = URL(fileURLWithPath: d + "/fixture.json")
        var meta = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var step = meta["step"] as! [String: Any]
        step["sam_shards"] = 3                                   // the batch is 8
        meta["step"] = step
        try JSONSerialization.data(withJSONObject: meta).write(to: url)
        let bad = try status(["diagnose", d])
        XCTAssertEqual(bad.0, 2, bad.1)
        XCTAssertEqual(try status(["verify", d]).0, 2)
    }
}
