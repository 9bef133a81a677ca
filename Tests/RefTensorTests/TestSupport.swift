import Foundation
import XCTest
@testable import RefTensor

/// Files the tests read, found relative to this source file (works from any working directory).
enum TestResources {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A seeded tensor with entries uniform in [-1, 1).
func randomTensor<T: RefScalar>(_ shape: [Int], seed: UInt64, _: T.Type = T.self) -> Tensor<T> {
    var rng = RandomGenerator(seed: seed)
    return rng.uniformTensor(shape, in: -1...1)
}

/// Bit patterns, so equality means bit-identical (+0 and -0 differ, NaN equals itself).
func bits<T: RefScalar>(_ t: Tensor<T>) -> [UInt64] {
    t.scalars.map { v in
        if let f = v as? Float { return UInt64(f.bitPattern) }
        return (v as! Double).bitPattern
    }
}

/// Runs `body` with `Threads.count` set, restoring it afterwards.
func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let saved = Threads.count
    Threads.count = n
    defer { Threads.count = saved }
    return try body()
}

/// Asserts |a - b| <= atol + rtol |b| elementwise, reporting the worst element.
func assertClose<T: RefScalar>(_ a: Tensor<T>, _ b: Tensor<T>, rtol: Double, atol: Double, _ what: String,
                               file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.shape, b.shape, "\(what): shapes", file: file, line: line)
    guard a.shape == b.shape else { return }
    let d = a.maxDifference(b)
    XCTAssertTrue(a.isClose(to: b, rtol: rtol, atol: atol),
                  "\(what): max abs \(d.absolute), max rel \(d.relative) exceed rtol \(rtol) atol \(atol)", file: file, line: line)
}

/// Tolerances for comparing two summation orders of the same dot products.
func kernelTolerance<T: RefScalar>(_: T.Type) -> (rtol: Double, atol: Double) {
    T.self == Float.self ? (1e-4, 1e-5) : (1e-12, 1e-13)
}
