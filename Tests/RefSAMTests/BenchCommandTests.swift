import Foundation
import XCTest

/// `ref-run bench` through the real binary: its JSON is well formed and its figures
/// agree with each other (the median is the median of the per-call times, GFLOP/s
/// is 2mnk over it).
final class BenchCommandTests: XCTestCase {
    func bench(_ args: [String]) throws -> [String: Any] {
        let r = try runRefRun(["bench"] + args)
        XCTAssertEqual(r.status, 0, r.err)
        let line = r.out.split(separator: "\n").last.map(String.init) ?? ""
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
    }

    func testGemmPerCallTimesAndFaultsAgreeWithTheMedian() throws {
        let (m, n, k) = (40, 50, 30)
        let o = try bench(["gemm", "--m", "\(m)", "--n", "\(n)", "--k", "\(k)", "--repeat", "5", "--threads", "1", "--per-call"])
        let calls = try XCTUnwrap(o["per_call_ms"] as? [Double])
        let faults = try XCTUnwrap(o["per_call_page_faults"] as? [Int])
        XCTAssertEqual(calls.count, 5)
        XCTAssertEqual(faults.count, 5)
        XCTAssertTrue(calls.allSatisfy { $0 >= 0 } && faults.allSatisfy { $0 >= 0 }, "\(calls) \(faults)")
        let ms = try XCTUnwrap(o["ms"] as? Double)
        // Printed with 4 decimals: the median of the printed calls within 1e-4 ms.
        XCTAssertEqual(ms, calls.sorted()[2], accuracy: 2e-4)
        // GFLOP/s = 2mnk / ms / 1e6, from the unrounded median: within what ms's 4 printed
        // decimals (+-5e-5 ms) and gflops's own allow.
        let gflops = try XCTUnwrap(o["gflops"] as? Double), flops = 2 * Double(m * n * k)
        let low = flops / (ms + 5e-5) / 1e6 - 5e-5, high = flops / max(ms - 5e-5, 1e-9) / 1e6 + 5e-5
        XCTAssertTrue(gflops >= low && gflops <= high, "gflops \(gflops) outside \(low)...\(high) for ms \(ms)")
    }

    func testPerCallFieldsOnlyWhenAsked() throws {
        let o = try bench(["gemm", "--m", "8", "--n", "8", "--k", "8", "--repeat", "2", "--threads", "1"])
        XCTAssertNil(o["per_call_ms"])
        XCTAssertNil(o["per_call_page_faults"])
        XCTAssertNotNil(o["gflops"])
    }
}
