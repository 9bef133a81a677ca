import XCTest
@testable import RefTensor

/// The tape's contract: accumulation over reuse, zeros for unreachable leaves,
/// clear errors for misuse.
final class AutodiffTests: XCTestCase {
    /// y = x + x (a residual of itself): dy/dx must be 2, not 1.
    func testValueUsedTwiceAccumulatesBothContributions() throws {
        let t = Tape<Double>()
        let x = t.leaf(Tensor(shape: [1, 3], scalars: [1, -2, 3]))
        let w = t.leaf(Tensor(shape: [3, 1], scalars: [0.5, 0.25, 2]))
        let h = try t.add(x, x)
        let loss = try t.mean(t.dense(h, kernel: w, bias: nil), axes: [0, 1])
        let g = try t.gradients(of: loss, withRespectTo: [x, w])
        XCTAssertEqual(g[0].scalars, [1, 0.5, 4])       // 2 * w
        XCTAssertEqual(g[1].scalars, [2, -4, 6])        // 2 * x
    }

    func testUnreachedLeafGetsZeros() throws {
        let t = Tape<Float>()
        let x = t.leaf(Tensor(shape: [2], scalars: [1, 2]))
        let unused = t.leaf(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        let loss = try t.mean(x, axes: [0])
        let late = t.leaf(Tensor(shape: [3], scalars: [1, 1, 1]))   // recorded after the loss
        let g = try t.gradients(of: loss, withRespectTo: [unused, x, late])
        XCTAssertEqual(g[0], Tensor<Float>.zeros([2, 2]))
        XCTAssertEqual(g[1].scalars, [0.5, 0.5])
        XCTAssertEqual(g[2], Tensor<Float>.zeros([3]))
    }

    func testNonScalarLossIsAnError() {
        let t = Tape<Float>()
        let x = t.leaf(Tensor(shape: [2], scalars: [1, 2]))
        XCTAssertThrowsError(try t.gradients(of: try t.relu(x), withRespectTo: [x])) { e in
            XCTAssertTrue("\(e)".contains("scalar") && "\(e)".contains("[2]"), "\(e)")
        }
    }

    func testVariableFromAnotherTapeIsAnError() throws {
        let a = Tape<Float>(), b = Tape<Float>()
        let xa = a.leaf(Tensor(shape: [1], scalars: [1]))
        _ = b.leaf(Tensor(shape: [1], scalars: [1]))
        let lb = try b.mean(b.leaf(Tensor(shape: [1], scalars: [2])), axes: [0])
        XCTAssertThrowsError(try b.gradients(of: lb, withRespectTo: [xa])) { e in
            XCTAssertTrue("\(e)".contains("not recorded"), "\(e)")
        }
        XCTAssertThrowsError(try b.relu(xa))
    }

    func testShapeMismatchNamesBothShapes() {
        let t = Tape<Float>()
        let a = t.leaf(.zeros([2, 3])), b = t.leaf(.zeros([3, 2]))
        XCTAssertThrowsError(try t.add(a, b)) { e in
            XCTAssertTrue("\(e)".contains("[2, 3]") && "\(e)".contains("[3, 2]"), "\(e)")
        }
        let w = t.leaf(.zeros([4, 5]))
        XCTAssertThrowsError(try t.dense(a, kernel: w, bias: nil)) { e in
            XCTAssertTrue("\(e)".contains("[2, 3]") && "\(e)".contains("[4, 5]"), "\(e)")
        }
        XCTAssertThrowsError(try t.multiply(a, mask: .ones([3]))) { e in XCTAssertTrue("\(e)".contains("[3]"), "\(e)") }
        XCTAssertThrowsError(try t.reshape(a, to: [5]))
        XCTAssertThrowsError(try t.mean(a, axes: [2]))
    }

    func testGradientsCanBeTakenTwice() throws {
        let t = Tape<Double>()
        let x = t.leaf(Tensor(shape: [2], scalars: [3, 4]))
        let loss = try t.mean(t.multiply(x, mask: Tensor(shape: [2], scalars: [1, 0])), axes: [0])
        XCTAssertEqual(try t.gradients(of: loss, withRespectTo: [x]), try t.gradients(of: loss, withRespectTo: [x]))
    }
}

/// A conv/BN/ReLU/pool/dense network's loss and every gradient, bit for bit, with
/// 1 thread and with several.
final class NetworkDeterminismTests: XCTestCase {
    func lossAndGradients() throws -> [[UInt64]] {
        let t = Tape<Float>()
        let x = t.leaf(randomTensor([8, 12, 12, 3], seed: 1))
        let w1 = t.leaf(randomTensor([3, 3, 3, 16], seed: 2)), s1 = t.leaf(.ones([16])), b1 = t.leaf(.zeros([16]))
        let w2 = t.leaf(randomTensor([1, 1, 16, 32], seed: 3))
        let wd = t.leaf(randomTensor([32, 10], seed: 4)), bd = t.leaf(.zeros([10]))
        var h = try t.conv2d(x, kernel: w1, strides: (2, 2), padding: .same)
        h = try t.relu(t.batchNorm(h, scale: s1, bias: b1).y)
        h = try t.maxPool(h, window: (3, 3), strides: (2, 2), padding: .same)
        h = try t.conv2d(h, kernel: w2, padding: .valid)
        let logits = try t.dense(t.mean(h, axes: [1, 2]), kernel: wd, bias: bd)
        let loss = try t.softmaxCrossEntropy(logits: logits, labels: [0, 1, 2, 3, 4, 5, 6, 7])
        return [bits(t[loss])] + (try t.gradients(of: loss, withRespectTo: [x, w1, s1, b1, w2, wd, bd])).map(bits)
    }

    func testOneThreadAndManyThreadsAgreeBitForBit() throws {
        let one = try withThreads(1) { try lossAndGradients() }
        for n in [2, 4] { XCTAssertEqual(one, try withThreads(n) { try lossAndGradients() }, "1 vs \(n) threads") }
    }
}
