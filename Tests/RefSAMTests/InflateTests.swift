import Foundation
import XCTest
@testable import RefSAMData

/// gzip/DEFLATE decoding against files compressed by independent encoders: Python's
/// zlib (tools/make_gzip_cases.py, one case per block type and header form) and GNU
/// gzip (the MNIST files). Each case's raw content is shipped beside it.
final class InflateTests: XCTestCase {
    func gzipCase(_ name: String) throws -> (gz: [UInt8], raw: [UInt8]) {
        (try readBytes(Repo.resource("gzip/\(name).gz")), try readBytes(Repo.resource("gzip/\(name).raw")))
    }

    /// BTYPE of the first DEFLATE block of the member at `offset` with a plain 10-byte header.
    func firstBlockType(_ gz: [UInt8], memberAt offset: Int = 0) -> Int {
        XCTAssertEqual(gz[offset + 3], 0, "the case has header flags; the block would not start at byte 10")
        return Int(gz[offset + 10] >> 1) & 3
    }

    func assertInflates(_ name: String, blockType: Int?, file: StaticString = #filePath, line: UInt = #line) throws {
        let (gz, raw) = try gzipCase(name)
        if let blockType { XCTAssertEqual(firstBlockType(gz), blockType, "\(name): the case does not cover block type \(blockType)", file: file, line: line) }
        let out = try Inflate.gunzip(gz)
        XCTAssertEqual(out.count, raw.count, "\(name): length", file: file, line: line)
        XCTAssertTrue(out == raw, "\(name): content differs from the raw file", file: file, line: line)
    }

    func testStoredBlocks() throws {
        try assertInflates("stored", blockType: 0)
        XCTAssertGreaterThan(try gzipCase("stored").raw.count, 65_535, "more than one stored block")
    }

    func testFixedHuffmanBlocks() throws { try assertInflates("fixed", blockType: 1) }

    func testDynamicHuffmanBlocks() throws { try assertInflates("dynamic", blockType: 2) }

    /// Two members back to back decode to their concatenation (RFC 1952 section 2.2).
    func testMultiMemberFile() throws {
        try assertInflates("multi", blockType: 1)
        let (gz, _) = try gzipCase("multi")
        // The second member starts after the first one's trailer; find it by its magic and check it is dynamic.
        let second = try XCTUnwrap((1..<(gz.count - 2)).first { gz[$0] == 0x1f && gz[$0 + 1] == 0x8b && gz[$0 + 2] == 8 && gz[$0 + 3] == 0 })
        XCTAssertEqual(firstBlockType(gz, memberAt: second), 2)
    }

    func testZeroByteMember() throws {
        try assertInflates("empty", blockType: nil)
        // An empty member followed by a non-empty one: the output is the second one's content.
        let (empty, _) = try gzipCase("empty"), (fixed, raw) = try gzipCase("fixed")
        XCTAssertTrue(try Inflate.gunzip(empty + fixed) == raw)
    }

    /// FEXTRA, FNAME, FCOMMENT and FHCRC are skipped.
    func testOptionalHeaderFields() throws {
        let (gz, _) = try gzipCase("header_fields")
        XCTAssertEqual(gz[3], 2 | 4 | 8 | 16)
        try assertInflates("header_fields", blockType: nil)
    }

    /// The real gzip files (compressed by GNU gzip, not by this project) inflate and pass their CRC;
    /// damage and truncation are refused.
    func testInflatesRealGzipAndRejectsDamage() throws {
        let gz = try readBytes(Repo.mnist + "/t10k-labels-idx1-ubyte.gz")
        let raw = try Inflate.gunzip(gz)
        XCTAssertEqual(raw.count, 10_008)
        XCTAssertEqual(Array(raw.prefix(8)), [0, 0, 8, 1, 0, 0, 0x27, 0x10])
        var damaged = gz; damaged[gz.count / 2] ^= 0x55
        XCTAssertThrowsError(try Inflate.gunzip(damaged))
        XCTAssertThrowsError(try Inflate.gunzip(Array(gz.prefix(gz.count - 100))))
        // Every case truncated by one byte fails (the trailer's length or CRC is then missing).
        for name in ["stored", "fixed", "dynamic", "multi"] {
            let (g, _) = try gzipCase(name)
            XCTAssertThrowsError(try Inflate.gunzip(Array(g.dropLast())), name)
        }
    }
}
