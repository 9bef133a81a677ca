import XCTest
@testable import RefTensor

/// `Mask` against its definition, `ElementwiseOp.multiply(x, mask)`, bit for bit.
final class MaskOpTests: XCTestCase {
    /// A 0/1 mask of `n` elements with zeros at `zeros`.
    func mask<T: RefScalar>(_ n: Int, zeros: [Int], _: T.Type) -> Tensor<T> {
        var m = Tensor<T>.ones([n])
        for i in zeros { m.scalars[i] = 0 }
        return m
    }

    func checkMatchesMultiply<T: RefScalar>(_: T.Type) throws {
        let n = 1000
        var x: Tensor<T> = randomTensor([n], seed: 7)
        x.scalars[3] = -.infinity; x.scalars[4] = .nan; x.scalars[5] = -0.0
        for zeros in [[0, 3, 4, 5, 999], [], Array(stride(from: 0, to: n, by: 3))] {   // sparse, identity, dense
            let m = mask(n, zeros: zeros, T.self)
            let prepared = Mask(m)
            XCTAssertEqual(prepared.nonOnes == nil, zeros.count > n / 16, "\(zeros.count) zeros")
            let expected = try ElementwiseOp.multiply(x, m)
            XCTAssertEqual(bits(try prepared.apply(to: x)), bits(expected), "\(T.self) apply, \(zeros.count) zeros")
            var y = x
            try prepared.apply(inPlace: &y)
            XCTAssertEqual(bits(y), bits(expected), "\(T.self) in place, \(zeros.count) zeros")
        }
    }

    func testMatchesMultiplyFloat() throws { try checkMatchesMultiply(Float.self) }
    func testMatchesMultiplyDouble() throws { try checkMatchesMultiply(Double.self) }

    /// Pruned weights already at +-0 (as in training) come back as the same storage;
    /// a non-zero pruned weight is zeroed, and the original is left alone.
    func testPrunedZerosAreReturnedWithoutACopy() throws {
        var w: Tensor<Float> = randomTensor([64], seed: 3)
        w.scalars[10] = 0; w.scalars[20] = -0.0
        let m = Mask(mask(64, zeros: [10, 20], Float.self))
        let y = try m.apply(to: w)
        XCTAssertEqual(bits(y), bits(w))
        let shared = w.scalars.withUnsafeBufferPointer { a in y.scalars.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
        XCTAssertTrue(shared, "an exact no-op should not copy")
        w.scalars[10] = 0.5
        let z = try m.apply(to: w)
        XCTAssertEqual(z.scalars[10], 0)
        XCTAssertEqual(w.scalars[10], 0.5)
        XCTAssertThrowsError(try m.apply(to: Tensor<Float>.zeros([63]))) { e in XCTAssertTrue("\(e)".contains("63"), "\(e)") }
    }
}
