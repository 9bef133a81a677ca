import Foundation
import XCTest

/// Every public declaration of the libraries carries a doc comment (`///` right above
/// it, attributes aside), so the API reads as documented from any editor or DocC.
final class DocumentationTests: XCTestCase {
    /// (file:line, declaration) of each public declaration without a doc comment.
    static func undocumented(under folder: String) throws -> [String] {
        var missing: [String] = []
        let fm = FileManager.default
        guard let files = fm.enumerator(atPath: folder) else { return [] }
        for case let rel as String in files where rel.hasSuffix(".swift") {
            let lines = try String(contentsOfFile: folder + "/" + rel, encoding: .utf8).components(separatedBy: "\n")
            for (i, line) in lines.enumerated() {
                var s = line.trimmingCharacters(in: .whitespaces)
                // Leading attributes and modifiers that may stand before `public`.
                while let r = s.range(of: #"^(@\w+(\([^)]*\))?|nonisolated\(unsafe\))\s+"#, options: .regularExpression) {
                    s.removeSubrange(r)
                }
                guard s.hasPrefix("public "), !s.hasPrefix("public extension") else { continue }
                var j = i - 1
                while j >= 0, lines[j].range(of: #"^\s*@\w+(\([^)]*\))?\s*$"#, options: .regularExpression) != nil { j -= 1 }
                if j < 0 || !lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                    missing.append("\(rel):\(i + 1): \(s.prefix(100))")
                }
            }
        }
        return missing
    }

    func testEveryPublicDeclarationIsDocumented() throws {
        for module in ["Sources/RefTensor", "Sources/RefSAM"] {
            let missing = try Self.undocumented(under: Repo.path(module))
            XCTAssertEqual(missing, [], "\(module): \(missing.count) public declarations lack a /// comment:\n" + missing.joined(separator: "\n"))
        }
    }

    /// The checker itself finds an undocumented declaration and accepts a documented one.
    func testTheCheckerCanFail() throws {
        let dir = try makeTemporaryDirectory("docs")
        try "/// Documented.\n@inlinable\npublic func a() {}\n\npublic func b() {}\n".write(toFile: dir + "/X.swift", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Self.undocumented(under: dir), ["X.swift:5: public func b() {}"])
    }

    /// docs/FIXTURES.md shows tools/example_sam_step_fixture.py whole: the text a reader
    /// copies is the script that was run.
    func testFixtureExampleInTheDocsIsTheScript() throws {
        let doc = try String(contentsOfFile: Repo.docs + "/FIXTURES.md", encoding: .utf8)
        let script = try String(contentsOfFile: Repo.path("tools/example_sam_step_fixture.py"), encoding: .utf8)
        XCTAssertTrue(doc.contains("```python\n" + script + "```\n"), "docs/FIXTURES.md's example differs from tools/example_sam_step_fixture.py")
    }
}
