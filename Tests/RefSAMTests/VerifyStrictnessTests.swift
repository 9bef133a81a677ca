import Foundation
import XCTest
@testable import RefSAM
@testable import ref_run

/// `verify` refuses checks that cannot fail (exit 2), names NaN and infinities, and
/// reports in the order the step computes its outputs.
final class VerifyStrictnessTests: XCTestCase {
    /// A copy of a committed fixture to alter.
    func copy(_ fixture: String) throws -> String {
        let d = try makeTemporaryDirectory("verify") + "/f"
        try FileManager.default.copyItem(atPath: Repo.fixtures + "/" + fixture, toPath: d)
        return d
    }

    func editJSON(_ dir: String, _ change: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: dir + "/fixture.json")
        var meta = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&meta)
        try JSONSerialization.data(withJSONObject: meta).write(to: url)
    }

    func assertMalformed(_ dir: String, mentions parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        let (lines, status) = VerifyCommand.report(dir)
        XCTAssertEqual(status, 2, lines.joined(separator: "\n"), file: file, line: line)
        for p in parts { XCTAssertTrue(lines.joined().contains(p), "'\(lines.joined())' lacks '\(p)'", file: file, line: line) }
    }

    func testAFixtureWithNoOutputsIsMalformed() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        try editJSON(d) { $0["outputs"] = [String]() }
        assertMalformed(d, mentions: ["outputs is empty"])
    }

    /// A float32 tensor in a float64 fixture is named, not silently upcast.
    func testATensorOfAnotherDtypeIsMalformed() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        let input = d + "/inputs/params/Dense_0/bias.npy"
        try Npy.write(try Npy.read(contentsOf: input).tensor(Double.self).converted(to: Float.self), to: input)
        assertMalformed(d, mentions: ["inputs/params/Dense_0/bias is float32", "dtype is float64"])

        let e = try copy("mlp_sgd_f64/step_000")
        let output = e + "/outputs/grads/Dense_1/kernel.npy"
        try Npy.write(try Npy.read(contentsOf: output).tensor(Double.self).converted(to: Float.self), to: output)
        assertMalformed(e, mentions: ["outputs/grads/Dense_1/kernel is float32"])
    }

    /// Leaving out the trace is an error unless the fixture says the trace is zero.
    func testTheTraceMustBeGivenOrDeclaredZero() throws {
        let d = try copy("mlp_sgd_f64/step_000")              // a first step: its trace is zero
        try FileManager.default.removeItem(atPath: d + "/inputs/trace")
        try editJSON(d) { $0["inputs"] = ($0["inputs"] as! [String]).filter { !$0.hasPrefix("trace/") } }
        assertMalformed(d, mentions: ["no trace/ inputs", "\"trace\": \"zero\""])
        try editJSON(d) { $0["trace"] = "zero" }
        XCTAssertEqual(VerifyCommand.report(d).status, 0)

        let e = try copy("mlp_sam_f64/step_001")
        try FileManager.default.removeItem(atPath: e + "/inputs/trace/Dense_1/bias.npy")
        try editJSON(e) { $0["inputs"] = ($0["inputs"] as! [String]).filter { $0 != "trace/Dense_1/bias" } }
        assertMalformed(e, mentions: ["trace/ inputs are partial", "trace/Dense_1/bias"])
    }

    /// NaN is reported as NaN, never as "max abs inf".
    func testNaNIsNamed() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        let path = d + "/outputs/grads/Dense_0/bias.npy"
        var t = try Npy.read(contentsOf: path).tensor(Double.self)
        t[flat: 0] = .nan; t[flat: 1] = .nan
        try Npy.write(t, to: path)
        let (lines, status) = VerifyCommand.report(d)
        XCTAssertEqual(status, 1)
        let line = try XCTUnwrap(lines.first { $0.hasPrefix("grads/Dense_0/bias ") })
        XCTAssertTrue(line.contains("FAIL") && line.contains("2 NaN in the fixture where this reference has a number"), line)
        XCTAssertFalse(line.contains("inf"), line)      // error/tol is NaN: no distance is defined
    }

    /// Outputs come in computation order; the summary names the first failure and counts per collection.
    func testReportOrderSummaryAndModes() throws {
        let d = try copy("mlp_sgd_f64/step_000")
        for name in ["params/Dense_1/bias", "grads_first/Dense_1/kernel"] {
            let path = d + "/outputs/" + name + ".npy"
            var t = try Npy.read(contentsOf: path).tensor(Double.self)
            t[flat: 0] += 1e-3
            try Npy.write(t, to: path)
        }
        let (lines, status) = VerifyCommand.report(d)
        XCTAssertEqual(status, 1)
        let names = lines.dropFirst(3).dropLast().map { String($0.split(separator: " ")[0]) }
        XCTAssertEqual(Array(names.prefix(4)), ["loss", "logits", "grads_first/Dense_0/kernel", "grads_first/Dense_0/bias"])
        XCTAssertEqual(names.last, "params/Dense_2/bias")
        XCTAssertEqual(names.firstIndex(of: "grads/Dense_0/kernel")! < names.firstIndex(of: "trace/Dense_0/kernel")!, true)
        let summary = try XCTUnwrap(lines.last)
        XCTAssertTrue(summary.hasPrefix("2 of 26 outputs FAIL; first (in computation order): grads_first/Dense_1/kernel"), summary)
        XCTAssertTrue(summary.contains("grads_first 1/6") && summary.contains("params 1/6"), summary)
        let failing = try XCTUnwrap(lines.first { $0.hasPrefix("params/Dense_1/bias") })
        let ratio = try XCTUnwrap(Double(failing.split(separator: " ", omittingEmptySubsequences: true)[2]))
        XCTAssertGreaterThan(ratio, 1, failing)

        let only = VerifyCommand.report(d, .init(failuresOnly: true)).lines
        XCTAssertEqual(only.count, 3 + 2 + 1, only.joined(separator: "\n"))
        let json = VerifyCommand.report(d, .init(json: true)).lines
        XCTAssertEqual(json.count, 27)
        for l in json { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(l.utf8)), l) }
        let last = try JSONSerialization.jsonObject(with: Data(json.last!.utf8)) as! [String: Any]
        XCTAssertEqual(last["first_failure"] as? String, "grads_first/Dense_1/kernel")
    }

    /// Several directories in one call, and a golden run's step_* directories.
    func testSeveralFixturesInOneCall() throws {
        XCTAssertEqual(VerifyCommand.expand([Repo.fixtures + "/mlp_sam_f64"]).map { ($0 as NSString).lastPathComponent },
                       ["step_000", "step_001", "step_002"])
        let args = try Arguments(["verify", Repo.fixtures + "/mlp_sgd_f64", Repo.fixtures + "/mlp_sam_f32/step_000", "--failures-only"],
                                 booleans: RefRun.booleans)
        XCTAssertEqual(try VerifyCommand.run(Arguments(Array(args.positional.dropFirst()) + ["--failures-only"], booleans: RefRun.booleans)), 0)
    }
}
