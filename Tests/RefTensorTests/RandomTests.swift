import XCTest
@testable import RefTensor

final class RandomTests: XCTestCase {
    /// Known-answer vectors of Random123 (kat_vectors, philox4x32 with 10 rounds).
    func testPhiloxKnownAnswers() {
        XCTAssertEqual(Philox.block(counter: SIMD4(0, 0, 0, 0), key: SIMD2(0, 0)),
                       SIMD4(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8))
        XCTAssertEqual(Philox.block(counter: SIMD4(repeating: 0xffffffff), key: SIMD2(repeating: 0xffffffff)),
                       SIMD4(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd))
        XCTAssertEqual(Philox.block(counter: SIMD4(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), key: SIMD2(0xa4093822, 0x299f31d0)),
                       SIMD4(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))
    }

    func testSameSeedSameStreamDifferentSeedDifferentStream() {
        var a = RandomGenerator(seed: 1), b = RandomGenerator(seed: 1), c = RandomGenerator(seed: 2)
        let xa = (0..<10).map { _ in a.nextUInt32() }
        XCTAssertEqual(xa, (0..<10).map { _ in b.nextUInt32() })
        XCTAssertNotEqual(xa, (0..<10).map { _ in c.nextUInt32() })
        var d1 = RandomGenerator(seed: 1).derived("params/Dense_0/kernel"), d2 = RandomGenerator(seed: 1).derived("params/Dense_1/kernel")
        XCTAssertNotEqual(d1.nextUInt64(), d2.nextUInt64())
    }

    /// Moments with tolerances of about 5 standard errors for 200k draws.
    func testDistributionsHaveTheirMoments() {
        var rng = RandomGenerator(seed: 42)
        let n = 200_000
        func moments(_ draw: () -> Double) -> (mean: Double, std: Double, min: Double, max: Double) {
            var s = 0.0, s2 = 0.0, lo = Double.infinity, hi = -Double.infinity
            for _ in 0..<n { let x = draw(); s += x; s2 += x * x; lo = min(lo, x); hi = max(hi, x) }
            let m = s / Double(n)
            return (m, (s2 / Double(n) - m * m).squareRoot(), lo, hi)
        }
        let u = moments { rng.uniform() }
        XCTAssertEqual(u.mean, 0.5, accuracy: 0.0035)
        XCTAssertEqual(u.std, (1.0 / 12).squareRoot(), accuracy: 0.003)
        XCTAssertGreaterThanOrEqual(u.min, 0); XCTAssertLessThan(u.max, 1)
        let z = moments { rng.normal() }
        XCTAssertEqual(z.mean, 0, accuracy: 0.012)
        XCTAssertEqual(z.std, 1, accuracy: 0.01)
        // Standard normal truncated to (-2, 2): std 0.87962566103423978 (the constant
        // Flax's lecun_normal divides by).
        let tz = moments { rng.truncatedNormal() }
        XCTAssertEqual(tz.mean, 0, accuracy: 0.01)
        XCTAssertEqual(tz.std, 0.87962566103423978, accuracy: 0.008)
        XCTAssertGreaterThan(tz.min, -2); XCTAssertLessThan(tz.max, 2)
    }

    func testPermutationIsAPermutation() {
        var rng = RandomGenerator(seed: 3)
        let p = rng.permutation(1000)
        XCTAssertEqual(p.sorted(), Array(0..<1000))
        XCTAssertNotEqual(p, Array(0..<1000))
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<30_000 { counts[rng.uniform(below: 3)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 500) }
    }
}
