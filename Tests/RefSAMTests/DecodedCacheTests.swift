import Foundation
import XCTest
@testable import RefSAMData

/// The decoded copies of gzip'd data files (`DecodedCache`): used when, and only
/// when, they match the gzip file; never partial; never required.
final class DecodedCacheTests: XCTestCase {
    func content(_ n: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 40)
        }
    }

    func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// The first read inflates and keeps a copy; the second reads the copy. The proof it
    /// does: the gzip file is then replaced by bytes that do not inflate, with the same
    /// size and trailer, and the read still gives the content (the copy's header and
    /// CRC-32 match that trailer).
    func testSecondReadUsesTheCopy() throws {
        let dir = try makeTemporaryDirectory("decoded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let raw = content(200_000, seed: 1), path = dir + "/images.gz"
        let gz = DataTests.gzipStored(raw)
        try write(gz, path)
        XCTAssertEqual(try Datasets.readMaybeGzip(path), raw)
        let copy = DecodedCache.copyPath(for: path)
        XCTAssertEqual(copy, dir + "/.ref-run-decoded/images")
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int), DecodedCache.headerSize + raw.count)
        var broken = gz
        for i in 20..<(gz.count - 8) { broken[i] = 0xff }       // no longer DEFLATE; same size and trailer
        try write(broken, path)
        XCTAssertEqual(try Datasets.readMaybeGzip(path), raw)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/.ref-run-decoded"), ["images"], "no temporary left")
    }

    /// A gzip file that changed is decoded again (its trailer differs), and its copy replaced.
    func testChangedFileIsDecodedAgain() throws {
        let dir = try makeTemporaryDirectory("decoded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/labels.gz"
        try write(DataTests.gzipStored(content(5000, seed: 2)), path)
        _ = try Datasets.readMaybeGzip(path)
        let second = content(5000, seed: 3)
        try write(DataTests.gzipStored(second), path)
        XCTAssertEqual(try Datasets.readMaybeGzip(path), second)
        XCTAssertEqual(DecodedCache.cachedBytes(forGzip: path), second)
    }

    /// A damaged copy (one byte of its content changed: the CRC-32 no longer matches) is
    /// not used, and the next read replaces it.
    func testDamagedCopyIsNotUsed() throws {
        let dir = try makeTemporaryDirectory("decoded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let raw = content(70_000, seed: 4), path = dir + "/x.gz"
        try write(DataTests.gzipStored(raw), path)
        _ = try Datasets.readMaybeGzip(path)
        let copy = DecodedCache.copyPath(for: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: copy)))
        bytes[DecodedCache.headerSize + 1234] ^= 1
        try write(bytes, copy)
        XCTAssertNil(DecodedCache.cachedBytes(forGzip: path))
        XCTAssertEqual(try Datasets.readMaybeGzip(path), raw)
        XCTAssertEqual(DecodedCache.cachedBytes(forGzip: path), raw)
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: copy)))
        try write(Array(bytes.dropLast()), copy)                       // truncated
        XCTAssertNil(DecodedCache.cachedBytes(forGzip: path))
    }

    /// No copy is kept of a file of two members (the trailer covers only the last), of an
    /// empty file, nor where the copy's directory cannot be made; reading works the same.
    func testNoCopyWhenItCannotBeChecked() throws {
        let dir = try makeTemporaryDirectory("decoded")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = dir + "/empty.gz"
        try write(DataTests.gzipStored([]), empty)
        XCTAssertEqual(try Datasets.readMaybeGzip(empty), [])
        XCTAssertEqual(try Datasets.readMaybeGzip(empty), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: DecodedCache.copyPath(for: empty)))

        let a = content(3000, seed: 5), b = content(4000, seed: 6)
        let two = dir + "/two.gz"
        try write(DataTests.gzipStored(a) + DataTests.gzipStored(b), two)
        XCTAssertEqual(try Datasets.readMaybeGzip(two), a + b)
        XCTAssertFalse(FileManager.default.fileExists(atPath: DecodedCache.copyPath(for: two)))

        let blocked = try makeTemporaryDirectory("decoded-blocked")
        defer { try? FileManager.default.removeItem(atPath: blocked) }
        try write([1], blocked + "/.ref-run-decoded")                  // a file where the directory would go
        let one = blocked + "/one.gz"
        try write(DataTests.gzipStored(a), one)
        XCTAssertEqual(try Datasets.readMaybeGzip(one), a)
        XCTAssertEqual(try Datasets.readMaybeGzip(one), a)
        XCTAssertNil(DecodedCache.cachedBytes(forGzip: one))
    }
}
