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
        let (lines, status) = FixtureReplay.report(args.positional[0], rtol: try args.double("rtol"), atol: try args.double("atol"))
        for line in lines {
            if line.hasPrefix("error: ") { FileHandle.standardError.write((line + "\n").data(using: .utf8)!) } else { print(line) }
        }
        return status
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write(("error: " + s + "\n").data(using: .utf8)!)
}
