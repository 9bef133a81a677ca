import Foundation
import RefSAM

/// `ref-run diagnose FIXTURE [--rtol R] [--atol A]`: when a fixture fails, replays it
/// under each known variant of the step (`StepVariant`) and names those under which
/// every output passes: a failed check turned into a found bug. Exit 0 when the fixture
/// passes as is, 1 when it fails (whether or not a variant explains it), 2 when malformed.
enum DiagnoseCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["rtol", "atol", "threads"], command: "diagnose")
        guard args.positional.count == 1 else { throw UsageError("diagnose needs exactly one fixture directory") }
        let d: Diagnosis, f: Fixture
        do {
            f = try Fixture.load(args.positional[0])
            d = try Diagnosis.of(f, rtol: try args.double("rtol"), atol: try args.double("atol"))
        } catch let e as UsageError { throw e } catch { throw CommandError("\(error)") }
        print("fixture \(f.directory): \(f.model), \(f.step.optimizer.rawValue), \(f.dtype.rawValue), producer: \(f.producer)")
        if d.failingAsIs == 0 {
            print("all \(d.outputs) outputs pass as is: nothing to diagnose")
            return 0
        }
        print("\(d.failingAsIs) of \(d.outputs) outputs fail against the original step")
        if d.matches.isEmpty {
            print("no known variant makes every output pass; the closest (failing outputs):")
            for (v, n, names) in d.variants.prefix(4) {
                print("  \(v.rawValue.padding(toLength: 30, withPad: " ", startingAt: 0)) \(n)   \(v.summary)")
                print("  " + String(repeating: " ", count: 30) + "    fails: " + names.joined(separator: ", ") + (n > names.count ? ", ..." : ""))
            }
        } else {
            print("every output passes under:")
            for v in d.matches { print("  \(v.rawValue.padding(toLength: 30, withPad: " ", startingAt: 0)) \(v.summary)") }
        }
        return 1
    }
}
