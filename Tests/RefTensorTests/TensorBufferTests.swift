import XCTest
@testable import RefTensor

/// The element-access helpers of `Tensor` and the per-axis padding of `Padding`.
final class TensorBufferTests: XCTestCase {
    func testWithScalarsBorrowsEveryTensorInOrder() {
        let a = Tensor<Double>(shape: [2], scalars: [1, 2]), b = Tensor<Double>(shape: [3], scalars: [3, 4, 5])
        let empty = Tensor<Double>.zeros([0])
        let seen = Tensor.withScalars(of: [a, empty, b]) { bufs in bufs.map { Array($0) } }
        XCTAssertEqual(seen, [[1, 2], [], [3, 4, 5]])
        XCTAssertEqual(Tensor<Double>.withScalars(of: []) { $0.count }, 0)
    }

    func testMakingWritesEachOutput() {
        let outs = Tensor<Float>.making(3, shape: [2, 2]) { o in
            for (k, buf) in o.enumerated() { for i in buf.indices { buf[i] = Float(10 * k + i) } }
        }
        XCTAssertEqual(outs.map(\.shape), [[2, 2], [2, 2], [2, 2]])
        XCTAssertEqual(outs.map(\.scalars), [[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]])
        XCTAssertEqual(Tensor<Float>.making(0, shape: [4]) { XCTAssertTrue($0.isEmpty) }.count, 0)
    }

    func testFlatSubscriptAndMutableScalarsKeepTheShape() {
        var t = Tensor<Float>.zeros([2, 3])
        t[flat: 4] = 7
        XCTAssertEqual(t[[1, 1]], 7)
        t.withUnsafeMutableScalars { for i in $0.indices { $0[i] += 1 } }
        XCTAssertEqual(t.scalars, [1, 1, 1, 1, 8, 1])
        XCTAssertEqual(t.shape, [2, 3])
    }

    /// Explicit padding gives each axis its own amounts (height for rows, width for columns).
    func testExplicitPaddingIsPerAxis() throws {
        let p = Padding.explicit(height: (1, 2), width: (3, 0))
        XCTAssertEqual(p.amounts(.height, input: 8, window: 3, stride: 1).low, 1)
        XCTAssertEqual(p.amounts(.height, input: 8, window: 3, stride: 1).high, 2)
        XCTAssertEqual(p.amounts(.width, input: 8, window: 3, stride: 1).low, 3)
        XCTAssertEqual(p.amounts(.width, input: 8, window: 3, stride: 1).high, 0)
        let g = try ConvGeometry(op: "t", input: [1, 8, 8, 1], window: (h: 3, w: 3), inChannels: 1, outChannels: 1,
                                 strides: (1, 1), padding: p)
        XCTAssertEqual([g.outH, g.outW], [8 + 3 - 3 + 1, 8 + 3 - 3 + 1])
        XCTAssertEqual([g.padTop, g.padBottom, g.padLeft, g.padRight], [1, 2, 3, 0])
    }
}
