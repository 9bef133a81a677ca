import Foundation
import RefSAM

/// `ref-run verify DIR [--rtol R] [--atol A]`: replays a fixture written by any
/// backend. Exit 0 when every output passes, 1 when one fails or is missing, 2 when
/// the fixture is malformed.
enum VerifyCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["rtol", "atol", "threads"], command: "verify")
        guard args.positional.count == 1 else { throw UsageError("verify needs exactly one fixture directory") }
        let (lines, status) = report(args.positional[0], rtol: try args.double("rtol"), atol: try args.double("atol"))
        if status == 2 {
            for line in lines { printError(line) }
        } else {
            for line in lines { print(line) }
        }
        return status
    }

    /// What `verify` prints and its exit status: 0 when every output passes,
    /// 1 when one fails or is missing, 2 when the fixture is malformed (then the lines are the error).
    static func report(_ directory: String, rtol: Double? = nil, atol: Double? = nil) -> (lines: [String], status: Int32) {
        let outcome: ReplayOutcome
        do {
            outcome = try FixtureReplay.replay(directory: directory, rtol: rtol, atol: atol)
        } catch {
            return (["\(error)"], 2)
        }
        let f = outcome.fixture
        var lines = ["fixture \(directory): \(f.model), \(f.step.optimizer.rawValue), \(f.dtype.rawValue), producer: \(f.producer)",
                     "tolerance: rtol \(outcome.rtol), atol \(outcome.atol)"]
        let width = max(20, outcome.results.map(\.name.count).max() ?? 0)
        func fmt(_ x: Double) -> String { String(format: "%.3e", x) }
        for r in outcome.results {
            let name = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
            if let p = r.problem {
                lines.append("\(name)  FAIL  \(p)")
            } else {
                lines.append("\(name)  \(r.passed ? "pass" : "FAIL")  shape \(r.shape)  max abs \(fmt(r.maxAbsoluteError))  max rel \(fmt(r.maxRelativeError))")
            }
        }
        let failed = outcome.failures.count
        lines.append(failed == 0 ? "all \(outcome.results.count) outputs pass" : "\(failed) of \(outcome.results.count) outputs FAIL")
        return (lines, failed == 0 ? 0 : 1)
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data(("error: " + s + "\n").utf8))
}
