import Foundation
import RefSAM

/// `ref-run replay FIXTURE --out DIR`: this reference's step on the fixture's inputs,
/// written as a fixture (every output, whatever the fixture listed) plus the
/// intermediates that tell bugs apart (`StepRecord`). `ref-run verify DIR` passes on it;
/// compare the author's tensors with its `intermediates/` to find where they part.
enum ReplayCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["out", "threads"], command: "replay")
        guard args.positional.count == 1 else { throw UsageError("replay needs exactly one fixture directory") }
        guard let out = args.options["out"] else { throw UsageError("replay needs --out DIR (where the reference's fixture goes)") }
        let fixture: Fixture
        do { fixture = try Fixture.load(args.positional[0]) } catch { throw CommandError("\(error)") }
        if FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("fixture.json")) {
            throw CommandError("\(out) already holds a fixture; choose another --out")
        }
        let n: (outputs: Int, intermediates: Int)
        do { n = try FixtureReplay.writeReference(of: fixture, to: out) } catch let e as FixtureError {
            throw CommandError("\(e)")
        }
        print("wrote \(out): the reference's step on \(fixture.directory)'s inputs, \(n.outputs) outputs, "
              + "\(n.intermediates) intermediates (intermediates/: grad_norm, perturbation/, sam_grads/, batch_moments_first/, batch_moments_second/)")
        return 0
    }
}
