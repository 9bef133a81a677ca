import Foundation
import RefSAM

/// `ref-run verify DIR... [--rtol R] [--atol A] [--failures-only] [--json]`: replays
/// fixtures written by any backend. A DIR without fixture.json stands for its `step_*`
/// subdirectories (a golden run). Exit 0 when every output of every fixture passes, 1
/// when one fails or is missing, 2 when a fixture is malformed.
enum VerifyCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["rtol", "atol", "threads", "device"], command: "verify")
        let device = try DeviceOption.parse(args)
        guard !args.positional.isEmpty else { throw UsageError("verify needs at least one fixture directory") }
        let options = Options(rtol: try args.double("rtol"), atol: try args.double("atol"),
                              failuresOnly: args.switches.contains("failures-only"), json: args.switches.contains("json"))
        var status: Int32 = 0
        for dir in expand(args.positional) {
            let (lines, s) = device == .cpu ? report(dir, options) : try reportOnDevice(dir, device, options)
            for line in lines { if s == 2 { printError(line) } else { print(line) } }
            status = max(status, s)
        }
        return status
    }

    struct Options {
        var rtol: Double? = nil
        var atol: Double? = nil
        var failuresOnly = false
        var json = false
    }

    /// Each directory, or its `step_*` subdirectories in order when it holds no fixture.json.
    static func expand(_ dirs: [String]) -> [String] {
        dirs.flatMap { dir -> [String] in
            let fm = FileManager.default
            if fm.fileExists(atPath: (dir as NSString).appendingPathComponent("fixture.json")) { return [dir] }
            let steps = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("step_") }.sorted()
                .map { (dir as NSString).appendingPathComponent($0) }
            return steps.isEmpty ? [dir] : steps      // a directory with neither is reported as malformed
        }
    }

    /// `--device cuda`: the device's step on the fixture's inputs, written as a fixture in a
    /// temporary directory, verified by this reference like any backend's; the report
    /// names the fixture it replayed.
    static func reportOnDevice(_ directory: String, _ device: DeviceOption, _ options: Options) throws -> (lines: [String], status: Int32) {
        let f: Fixture
        do { f = try Fixture.load(directory) } catch { return (["\(error)"], 2) }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("ref-run-\(device.rawValue)-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        guard let step32 = device.stepFunction(Float.self), let step64 = device.stepFunction(Double.self) else {
            throw CommandError("--device \(device.rawValue) has no step function in this build")
        }
        try FixtureReplay.writeStep(of: f, to: tmp, producer: "ref-run --device \(device.rawValue) replay of \(directory)",
                                    float32: step32, float64: step64)
        let (lines, status) = report(tmp, options)
        return (lines.map { $0.replacingOccurrences(of: tmp, with: directory + " (on " + device.rawValue + ")") }, status)
    }

    /// What `verify` prints for one fixture and its exit status: 0 when every output
    /// passes, 1 when one fails or is missing, 2 when the fixture is malformed (then the
    /// lines are the error).
    static func report(_ directory: String, _ options: Options = Options()) -> (lines: [String], status: Int32) {
        let outcome: ReplayOutcome
        do {
            outcome = try FixtureReplay.replay(directory: directory, rtol: options.rtol, atol: options.atol)
        } catch {
            return (["\(error)"], 2)
        }
        let status: Int32 = outcome.passed ? 0 : 1
        if options.json { return (outcome.results.map { json($0, directory) } + [summaryJSON(outcome, directory)], status) }
        let f = outcome.fixture
        var lines = ["fixture \(directory): \(f.model), \(f.step.optimizer.rawValue), \(f.dtype.rawValue), producer: \(f.producer)",
                     "tolerance: \(outcome.tolerance.summary)"]
        let width = max(20, outcome.results.map(\.name.count).max() ?? 0)
        lines.append("name".padding(toLength: width, withPad: " ", startingAt: 0) + "  result  error/tol  max abs    max rel    shape")
        for r in outcome.results where !options.failuresOnly || !r.passed {
            lines.append(line(r, width))
        }
        lines.append(summary(outcome))
        return (lines, status)
    }

    static func number(_ x: Double) -> String {
        x.isNaN ? "NaN" : x.isInfinite ? (x < 0 ? "-inf" : "inf") : String(format: "%.3e", x)
    }

    static func line(_ r: TensorComparison, _ width: Int) -> String {
        let name = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
        if let p = r.problem { return "\(name)  FAIL    \(p)" }
        let ratio = number(r.errorToTolerance).padding(toLength: 9, withPad: " ", startingAt: 0)
        var text = "\(name)  \(r.passed ? "pass" : "FAIL")    \(ratio)  "
        if let nonFinite = r.nonFinite {
            text += nonFinite + "  shape \(r.shape)"
        } else {
            text += number(r.maxAbsoluteError).padding(toLength: 9, withPad: " ", startingAt: 0) + "  "
                + number(r.maxRelativeError).padding(toLength: 9, withPad: " ", startingAt: 0) + "  shape \(r.shape)"
        }
        return text
    }

    /// The collection of an output name (`grads_first` of `grads_first/Dense_0/kernel`).
    static func collection(_ name: String) -> String { String(name.split(separator: "/").first ?? "") }

    static func summary(_ outcome: ReplayOutcome) -> String {
        let results = outcome.results, failed = outcome.failures
        guard let first = failed.first else { return "all \(results.count) outputs pass" }
        var collections: [String] = []
        for r in results where !collections.contains(collection(r.name)) { collections.append(collection(r.name)) }
        let counts = collections.compactMap { c -> String? in
            let n = failed.filter { collection($0.name) == c }.count
            return n == 0 ? nil : "\(c) \(n)/\(results.filter { collection($0.name) == c }.count)"
        }
        return "\(failed.count) of \(results.count) outputs FAIL; first (in computation order): \(first.name); "
            + "failing by collection: " + counts.joined(separator: ", ")
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }

    /// One JSON object per tensor; numbers that JSON cannot hold (NaN, inf) as strings.
    static func json(_ r: TensorComparison, _ dir: String) -> String {
        func n(_ x: Double) -> String { x.isFinite ? String(format: "%.6e", x) : "\"\(number(x))\"" }
        var fields = ["\"fixture\":\"\(escape(dir))\"", "\"name\":\"\(escape(r.name))\"", "\"passed\":\(r.passed)",
                      "\"shape\":[\(r.shape.map(String.init).joined(separator: ","))]",
                      "\"error_to_tolerance\":\(n(r.errorToTolerance))", "\"max_abs\":\(n(r.maxAbsoluteError))",
                      "\"max_rel\":\(n(r.maxRelativeError))"]
        if let b = r.bound, let s = r.spread { fields += ["\"bound\":\(n(b))", "\"spread\":\(n(s))"] }
        if let p = r.problem { fields.append("\"problem\":\"\(escape(p))\"") }
        if let s = r.nonFinite { fields.append("\"non_finite\":\"\(escape(s))\"") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func summaryJSON(_ outcome: ReplayOutcome, _ dir: String) -> String {
        let first = outcome.failures.first.map { "\"\(escape($0.name))\"" } ?? "null"
        return "{\"fixture\":\"\(escape(dir))\",\"summary\":true,\"outputs\":\(outcome.results.count),"
            + "\"failed\":\(outcome.failures.count),\"first_failure\":\(first),\"tolerance\":\"\(escape(outcome.tolerance.summary))\"}"
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data(("error: " + s + "\n").utf8))
}
