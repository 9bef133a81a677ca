import Foundation
import XCTest
@testable import RefSAM

final class InflateTests: XCTestCase {
    func testSmall() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/tmp/small.gz")))
        let out = try Inflate.gunzip(bytes)
        XCTAssertEqual(out.count, 24000)
    }
}
