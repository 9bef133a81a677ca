import Foundation
import RefSAM
import RefTensor

/// `ref-run verify DIR [--rtol R] [--atol A]`: replays a fixture written by any
/// backend. Exit 0 when every output passes, 1 when one fails or is missing, 2 when
/// the fixture is malformed.
enum VerifyCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["rtol", "atol", "threads"], command: "verify")
        guard args.positional.count == 1 else { throw UsageError("verify needs exactly one fixture directory") }
        let dir = args.positional[0]
        let fixture: Fixture
        let results: [TensorComparison]
        do {
            fixture = try Fixture.load(dir)
            results = try FixtureReplay.verify(fixture, rtol: try args.double("rtol"), atol: try args.double("atol"))
        } catch let e as FixtureError {
            printError("\(e)")
            return 2
        }
        let tol = FixtureReplay.defaultTolerance(fixture.dtype)
        print("fixture \(dir): \(fixture.model), \(fixture.step.optimizer.rawValue), \(fixture.dtype.rawValue), producer: \(fixture.producer)")
        print("tolerance: rtol \(try args.double("rtol") ?? tol.rtol), atol \(try args.double("atol") ?? tol.atol)")
        let width = max(20, results.map(\.name.count).max() ?? 0)
        for r in results {
            let name = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
            if let p = r.problem {
                print("\(name)  FAIL  \(p)")
            } else {
                print("\(name)  \(r.passed ? "pass" : "FAIL")  shape \(r.shape)  max abs \(fmt(r.maxAbsoluteError))  max rel \(fmt(r.maxRelativeError))")
            }
        }
        let failed = results.filter { !$0.passed }.count
        print(failed == 0 ? "all \(results.count) outputs pass" : "\(failed) of \(results.count) outputs FAIL")
        return failed == 0 ? 0 : 1
    }

    static func fmt(_ x: Double) -> String { String(format: "%.3e", x) }
}

func printError(_ s: String) {
    FileHandle.standardError.write(("error: " + s + "\n").data(using: .utf8)!)
}
