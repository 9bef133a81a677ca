import Foundation
import XCTest
@testable import RefSAM
@testable import RefTensor

/// Replays every committed fixture (written by PyTorch, tools/make_fixtures_torch.py)
/// at the default tolerances: float64 rtol 1e-9 / atol 1e-12, float32 rtol 1e-4 / atol 1e-6.
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
}
