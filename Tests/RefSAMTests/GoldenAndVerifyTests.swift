import Foundation
import XCTest
@testable import RefSAM
@testable import ref_run
@testable import RefTensor

/// `golden` writes fixtures this reference replays exactly; `verify` reports 0 / 1 / 2.
final class GoldenAndVerifyTests: XCTestCase {
    static let fixtures = Repo.fixtures

    func tempDir() throws -> String { try makeTemporaryDirectory("golden") }

    func copy(_ fixture: String) throws -> String {
        let d = try tempDir() + "/f"
        try FileManager.default.copyItem(atPath: Self.fixtures + "/" + fixture, toPath: d)
        return d
    }

    func testGoldenSyntheticStepsChainAndReplay() throws {
        let out = try tempDir()
        let c = try Config.load(file: nil, overrides: [("model", "ResNet18"), ("dataset", "cifar10"), ("num_filters", "2"),
                                                      ("batch_size", "4"), ("pruner", "magnitude"), ("sparsity", "0.5"), ("dtype", "float64")])
        let written = try Golden.write(Double.self, spec: RunSpec(config: c), steps: 2, synthetic: true, out: out, producer: "test")
        XCTAssertEqual(written.map { ($0.0 as NSString).lastPathComponent }, ["step_000", "step_001"])
        for dir in written.map(\.0) {
            let (lines, status) = VerifyCommand.report(dir)
            XCTAssertEqual(status, 0, lines.joined(separator: "\n"))
        }
        // Step 1 starts where step 0 ended: its input trace is step 0's output trace (non-zero momentum).
        let trace0 = try Npy.read(contentsOf: out + "/step_000/outputs/trace/conv_init/kernel.npy").tensor(Double.self)
        let trace1 = try Npy.read(contentsOf: out + "/step_001/inputs/trace/conv_init/kernel.npy").tensor(Double.self)
        XCTAssertEqual(trace0, trace1)
        XCTAssertTrue(trace1.scalars.contains { $0 != 0 })
        // The mask prunes half of the kernels (global magnitude threshold).
        let f = try Fixture.load(out + "/step_000")
        XCTAssertTrue(f.inputs.contains("mask/conv_init/kernel"))
    }

    func testGoldenFromTheEmbeddedMNIST() throws {
        let out = try tempDir()
        let c = try Config.load(file: nil, overrides: [("num_neurons", "[8]"), ("batch_size", "16"), ("pruner", "snip"), ("sparsity", "0.3")])
        let written = try Golden.write(Float.self, spec: RunSpec(config: c), steps: 1, synthetic: false, out: out, producer: "test")
        XCTAssertEqual(VerifyCommand.report(written[0].0).status, 0)
        let image = try Npy.read(contentsOf: out + "/step_000/inputs/image.npy").tensor(Float.self)
        XCTAssertEqual(image.shape, [16, 28, 28, 1])
        XCTAssertTrue(image.scalars.allSatisfy { $0 >= 0 && $0 <= 1 }, "MNIST pixels / 255")
    }

    /// At sparsity 0 golden still writes masks (one pruned weight per kernel, the original's
    /// rule); with mask: false (--no-mask) it writes none, and the fixture replays.
    func testGoldenWithoutMask() throws {
        let c = try Config.load(file: nil, overrides: [("num_neurons", "[8]"), ("batch_size", "4"), ("dtype", "float64")])
        let masked = try tempDir(), plain = try tempDir()
        try Golden.write(Double.self, spec: RunSpec(config: c), steps: 1, synthetic: true, out: masked, producer: "test")
        try Golden.write(Double.self, spec: RunSpec(config: c), steps: 1, synthetic: true, out: plain, producer: "test", mask: false)
        let m = try Npy.read(contentsOf: masked + "/step_000/inputs/mask/Dense_0/kernel.npy").tensor(Double.self)
        XCTAssertEqual(m.scalars.filter { $0 == 0 }.count, 1)
        XCTAssertFalse(try Fixture.load(plain + "/step_000").inputs.contains { $0.hasPrefix("mask/") })
        XCTAssertEqual(VerifyCommand.report(plain + "/step_000").status, 0)
    }

    /// --probe: weight decay 0.05 and rho 0.5 unless the command line sets them; the probe
    /// fixture replays, and a weight-decay bug fails it.
    func testGoldenProbe() throws {
        let dir = try tempDir()
        func golden(_ name: String, _ extra: [String]) throws -> Fixture {
            let r = try runRefRun(["golden", "--config.num_neurons=[8]", "--batch", "4", "--synthetic", "--probe",
                                   "--out", dir + "/" + name] + extra)
            XCTAssertEqual(r.status, 0, r.err)
            return try Fixture.load(dir + "/" + name + "/step_000")
        }
        let probe = try golden("probe", [])
        XCTAssertEqual(probe.step.weightDecay, 0.05)
        XCTAssertEqual(probe.step.rho, 0.5)
        XCTAssertTrue(probe.producer.contains(" --probe"), probe.producer)
        XCTAssertEqual(try golden("rho", ["--config.rho=0.1"]).step.rho, 0.1)
        let d = try Diagnosis.of(probe)
        XCTAssertEqual(d.failingAsIs, 0)
        XCTAssertGreaterThan(d.variants.first { $0.variant == .weightDecayAtAscentPoint }!.failing, 0)
    }

    func testVerifyExitsZeroOnAPassingFixture() throws {
        let (lines, status) = VerifyCommand.report(Self.fixtures + "/mlp_sam_f64/step_001")
        XCTAssertEqual(status, 0)
        XCTAssertTrue(lines.last!.hasPrefix("all 26 outputs pass"), lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.hasPrefix("grads/Dense_0/kernel") && $0.contains("pass") && $0.contains("shape [144, 16]") })
    }

    func testVerifyExitsOneOnAWrongOrMissingOutput() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        var t = try Npy.read(contentsOf: d + "/outputs/params/Dense_1/bias.npy").tensor(Double.self)
        t.scalars[0] += 1e-6                      // far outside rtol 1e-9
        try Npy.write(t, to: d + "/outputs/params/Dense_1/bias.npy")
        var r = VerifyCommand.report(d)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.lines.contains { $0.hasPrefix("params/Dense_1/bias") && $0.contains("FAIL") }, r.lines.joined(separator: "\n"))
        // ... but passes with a looser tolerance.
        XCTAssertEqual(VerifyCommand.report(d, .init(rtol: 1e-3, atol: 1e-5)).status, 0)
        try FileManager.default.removeItem(atPath: d + "/outputs/logits.npy")
        r = VerifyCommand.report(d)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.lines.contains { $0.hasPrefix("logits") && $0.contains("missing file") }, r.lines.joined(separator: "\n"))
    }

    func testVerifyExitsTwoOnAMalformedFixture() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        try FileManager.default.removeItem(atPath: d + "/inputs/params/Dense_0/kernel.npy")
        var r = VerifyCommand.report(d)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.lines[0].contains("Dense_0/kernel"), r.lines[0])

        let e = try copy("mlp_sgd_f64/step_000")
        var meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: e + "/fixture.json"))) as! [String: Any]
        meta["model"] = ["name": "VGG", "num_classes": 10]
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: e + "/fixture.json"))
        r = VerifyCommand.report(e)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.lines[0].contains("unknown model VGG"), r.lines[0])

        try "not json".write(toFile: e + "/fixture.json", atomically: true, encoding: .utf8)
        XCTAssertEqual(VerifyCommand.report(e).status, 2)
        XCTAssertEqual(VerifyCommand.report(try tempDir()).status, 2)
    }
}
