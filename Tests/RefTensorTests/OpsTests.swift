import XCTest
@testable import RefTensor

/// Forward values of the ops against closed forms.
final class OpsTests: XCTestCase {
    func checkCrossEntropyClosedForms<T: RefScalar>(_: T.Type) throws {
        // Equal logits: loss = log(classes), whatever the label.
        let (loss, _) = try CrossEntropyOp.forward(Tensor<T>(repeating: 3, shape: [2, 10]), labels: [0, 9])
        XCTAssertEqual(Double(loss), log(10.0), accuracy: T.self == Float.self ? 1e-6 : 1e-15)
        // Stability: huge logits do not overflow. [1000, 0]: loss(label 0) ~ e^-1000, loss(label 1) = 1000.
        let (big, _) = try CrossEntropyOp.forward(Tensor<T>(shape: [2, 2], scalars: [1000, 0, 1000, 0]), labels: [0, 1])
        XCTAssertEqual(Double(big), 500, accuracy: 1e-9)
        XCTAssertThrowsError(try CrossEntropyOp.forward(Tensor<T>.zeros([2, 3]), labels: [0, 3])) { e in
            XCTAssertTrue("\(e)".contains("label[1] = 3"), "\(e)")
        }
        XCTAssertThrowsError(try CrossEntropyOp.forward(Tensor<T>.zeros([2, 3]), labels: [0]))
    }
    func testCrossEntropyFloat() throws { try checkCrossEntropyClosedForms(Float.self) }
    func testCrossEntropyDouble() throws { try checkCrossEntropyClosedForms(Double.self) }

    func testBatchNormTrainingNormalisesAndReportsBiasedVariance() throws {
        // Channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25); channel 1: constant 7 (var 0).
        let x = Tensor<Double>(shape: [4, 2], scalars: [1, 7, 2, 7, 3, 7, 4, 7])
        let r = try BatchNormOp.forwardTraining(x, scale: Tensor(shape: [2], scalars: [2, 1]), bias: Tensor(shape: [2], scalars: [0.5, -1]))
        XCTAssertEqual(r.mean.scalars, [2.5, 7])
        XCTAssertEqual(r.variance.scalars, [1.25, 0])
        let inv = 1 / (1.25 + 1e-5).squareRoot()
        for (i, v) in [1.0, 2, 3, 4].enumerated() {
            XCTAssertEqual(r.y.scalars[2 * i], (v - 2.5) * inv * 2 + 0.5, accuracy: 1e-14)
            XCTAssertEqual(r.y.scalars[2 * i + 1], -1, accuracy: 1e-14)      // constant channel -> bias
        }
    }

    /// Training-mode BatchNorm evaluated here term by term as `BatchNormOp` states it,
    /// one row and channel at a time, dividing by M: the kernels (eight channels at a
    /// time in tiles of rows; a multiply by 1/M where M is a power of two) must give the
    /// same bits. 11 channels: a block of eight and three single ones; M = 64 and 96
    /// (two row tiles, not a power of two); 40 channels: the element-wise passes row by
    /// row. In Double, where rounding to Float would not hide a last-bit difference.
    func testBatchNormIsItsFormulaBitForBit() throws {
        for (c, m) in [(11, 64), (11, 96), (40, 96)] {
            let x: Tensor<Double> = randomTensor([m, c], seed: 5), dy: Tensor<Double> = randomTensor([m, c], seed: 6)
            let scale: Tensor<Double> = randomTensor([c], seed: 7), bias: Tensor<Double> = randomTensor([c], seed: 8)
            let f = try BatchNormOp.forwardTraining(x, scale: scale, bias: bias)
            let back = BatchNormOp.backward(dy, x: x, scale: scale, mean: f.mean, invStd: f.invStd, training: true)
            let (xs, gs) = (x.scalars, dy.scalars)
            for j in 0..<c {
                var sum = 0.0
                for i in 0..<m { sum += xs[i * c + j] }
                let mean = sum / Double(m)
                var squares = 0.0
                for i in 0..<m { let d = xs[i * c + j] - mean; squares += d * d }
                let variance = squares / Double(m), invStd = 1 / (variance + BatchNormOp.defaultEpsilon).squareRoot()
                XCTAssertEqual(f.mean.scalars[j].bitPattern, mean.bitPattern, "mean, M \(m), channel \(j)")
                XCTAssertEqual(f.variance.scalars[j].bitPattern, variance.bitPattern, "variance, M \(m), channel \(j)")
                for i in 0..<m {
                    let y = (xs[i * c + j] - mean) * (invStd * scale.scalars[j]) + bias.scalars[j]
                    XCTAssertEqual(f.y.scalars[i * c + j].bitPattern, y.bitPattern, "y, M \(m), row \(i), channel \(j)")
                }
                var dbias = 0.0, dscale = 0.0
                for i in 0..<m {
                    dbias += gs[i * c + j]
                    dscale += gs[i * c + j] * (xs[i * c + j] - mean) * invStd
                }
                XCTAssertEqual(back.dbias.scalars[j].bitPattern, dbias.bitPattern, "dbias, M \(m), channel \(j)")
                XCTAssertEqual(back.dscale.scalars[j].bitPattern, dscale.bitPattern, "dscale, M \(m), channel \(j)")
                let k = scale.scalars[j] * invStd, meanG = dbias / Double(m)
                for i in 0..<m {
                    let xhat = (xs[i * c + j] - mean) * invStd
                    let expected = k * (gs[i * c + j] - meanG - xhat * dscale / Double(m))
                    XCTAssertEqual(back.dx.scalars[i * c + j].bitPattern, expected.bitPattern, "dx, M \(m), row \(i), channel \(j)")
                }
            }
        }
    }

    /// Sharded BatchNorm: the statistics of all rows (not of each shard), each shard's
    /// own affine; with equal scales and biases it is plain BatchNorm on the whole batch.
    func testShardedBatchNormSharesStatistics() throws {
        // Shard 0 rows: 1, 2; shard 1 rows: 3, 4. Pooled mean 2.5, biased var 1.25
        // (per shard it would be 1.5 / 3.5 and 0.25).
        let x = Tensor<Double>(shape: [4, 1], scalars: [1, 2, 3, 4])
        let r = try BatchNormOp.forwardTraining(x, scales: [Tensor(shape: [1], scalars: [2]), Tensor(shape: [1], scalars: [3])],
                                                biases: [Tensor(shape: [1], scalars: [0.5]), Tensor(shape: [1], scalars: [-1])])
        XCTAssertEqual(r.mean.scalars, [2.5])
        XCTAssertEqual(r.variance.scalars, [1.25])
        let inv = 1 / (1.25 + 1e-5).squareRoot()
        let expected = [(1 - 2.5) * inv * 2 + 0.5, (2 - 2.5) * inv * 2 + 0.5, (3 - 2.5) * inv * 3 - 1, (4 - 2.5) * inv * 3 - 1]
        for (y, e) in zip(r.y.scalars, expected) { XCTAssertEqual(y, e, accuracy: 1e-14) }

        let z: Tensor<Double> = Tensor(shape: [6, 2, 3], scalars: (0..<36).map { sin(Double($0) * 1.7) })
        let scale = Tensor<Double>(shape: [3], scalars: [0.5, 1.5, -2]), bias = Tensor<Double>(shape: [3], scalars: [0.1, 0, 3])
        let plain = try BatchNormOp.forwardTraining(z, scale: scale, bias: bias)
        let sharded = try BatchNormOp.forwardTraining(z, scales: [scale, scale, scale], biases: [bias, bias, bias])
        XCTAssertEqual(sharded.y.scalars, plain.y.scalars)
        let dy: Tensor<Double> = Tensor(shape: z.shape, scalars: (0..<36).map { cos(Double($0)) })
        let g = BatchNormOp.backward(dy, x: z, scale: scale, mean: plain.mean, invStd: plain.invStd, training: true)
        let gs = BatchNormOp.backward(dy, x: z, scales: [scale, scale, scale], mean: sharded.mean, invStd: sharded.invStd)
        for (a, b) in zip(gs.dx.scalars, g.dx.scalars) { XCTAssertEqual(a, b, accuracy: 1e-13) }
        let dscale = (0..<3).map { j in gs.dscales.map { $0.scalars[j] }.reduce(0, +) }
        for (a, b) in zip(dscale, g.dscale.scalars) { XCTAssertEqual(a, b, accuracy: 1e-13) }
        XCTAssertThrowsError(try BatchNormOp.forwardTraining(Tensor<Double>.zeros([5, 3]), scales: [scale, scale], biases: [bias, bias])) {
            XCTAssertTrue("\($0)".contains("5 rows do not split into 2 equal shards"), "\($0)")
        }
    }

    func testBatchNormEvaluationUsesRunningStatistics() throws {
        let x = Tensor<Float>(shape: [1, 1, 1, 2], scalars: [3, -1])
        let r = try BatchNormOp.forwardInference(x, scale: .ones([2]), bias: .zeros([2]),
                                                 mean: Tensor(shape: [2], scalars: [1, 1]), variance: Tensor(shape: [2], scalars: [4, 1]))
        XCTAssertEqual(Double(r.y.scalars[0]), 2 / (4 + 1e-5).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Double(r.y.scalars[1]), -2 / (1 + 1e-5).squareRoot(), accuracy: 1e-6)
    }

    /// Ties: the gradient goes to exactly one element, the first maximum in
    /// row-major window order.
    func testMaxPoolTieGoesToTheFirstMaximum() throws {
        let x = Tensor<Float>(shape: [1, 2, 2, 1], scalars: [5, 5, 5, 5])
        let t = Tape<Float>()
        let v = t.leaf(x)
        let y = try t.maxPool(v, window: (2, 2), strides: (2, 2), padding: .valid)
        XCTAssertEqual(t[y].scalars, [5])
        let g = try t.gradients(of: t.mean(y, axes: [0, 1, 2, 3]), withRespectTo: [v])[0]
        XCTAssertEqual(g.scalars, [1, 0, 0, 0])
    }

    func testMaxPoolSamePaddingIsNegativeInfinity() throws {
        // All-negative input: zero padding would win; -infinity padding must not.
        let x = Tensor<Double>(shape: [1, 2, 2, 1], scalars: [-4, -3, -2, -1])
        let r = try PoolOp.maxPool(x, window: (3, 3), strides: (2, 2), padding: .same)
        XCTAssertEqual(r.y.shape, [1, 1, 1, 1])
        XCTAssertEqual(r.y.scalars, [-1])
        // 4x4 input, SAME pads (0, 1): the window at (0,0) covers rows 0-2.
        let x4 = Tensor<Double>(shape: [1, 4, 4, 1], scalars: (0..<16).map { -Double($0) })
        let r4 = try PoolOp.maxPool(x4, window: (3, 3), strides: (2, 2), padding: .same)
        XCTAssertEqual(r4.y.scalars, [0, -2, -8, -10])
    }

    /// The fast max pool against its definition: the same maxima and the same argmax
    /// (first maximum in scan order), on ties (values from a few integers), NaN, SAME
    /// and VALID padding, strides 1 and 2, several channel counts, Float and Double.
    func testMaxPoolMatchesItsDefinition() throws {
        func check<T: RefScalar>(_: T.Type) throws {
            var seed: UInt64 = 3
            for (shape, window, stride, padding) in [([3, 9, 9, 5], (3, 3), (2, 2), Padding.same), ([2, 8, 8, 16], (3, 3), (2, 2), .same),
                                                     ([2, 7, 6, 1], (2, 2), (1, 1), .valid), ([1, 5, 5, 3], (3, 3), (1, 1), .same)] {
                seed += 1
                let r: Tensor<T> = randomTensor(shape, seed: seed)
                var values = r.scalars.map { ($0 * 3).rounded() }            // many ties
                values[7] = .nan
                let x = Tensor(shape: shape, scalars: values)
                let fast = try PoolOp.maxPool(x, window: window, strides: stride, padding: padding)
                let naive = try PoolOp.maxPoolNaive(x, window: window, strides: stride, padding: padding)
                XCTAssertEqual(fast.argmax, naive.argmax, "\(T.self) \(shape)")
                XCTAssertEqual(bits(fast.y), bits(naive.y), "\(T.self) \(shape)")
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    /// The odometer behind mean and its gradient against the division definition.
    func testOutputIndexOdometerMatchesDivision() {
        for (shape, axes) in [([2, 3, 4, 5], Set([1, 2])), ([2, 3, 4, 5], Set([0, 3])), ([4], Set([0])), ([3, 1, 2], Set<Int>()),
                              ([2, 3, 4, 5], Set([0, 1, 2, 3])), ([5, 7], Set([1]))] {
            let map = ReduceOp.outputIndex(shape: shape, axes: axes)
            var seen: [(Int, Int)] = []
            ReduceOp.forEachOutputIndex(shape: shape, axes: axes) { seen.append(($0, $1)) }
            XCTAssertEqual(seen.map(\.0), Array(0..<shape.reduce(1, *)), "\(shape) \(axes)")
            XCTAssertEqual(seen.map(\.1), seen.map { map($0.0) }, "\(shape) \(axes)")
        }
    }

    func testAvgPoolAndMean() throws {
        let x = Tensor<Float>(shape: [1, 2, 2, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40])
        XCTAssertEqual(try PoolOp.avgPool(x, window: (2, 2), strides: (2, 2)).scalars, [2.5, 25])
        XCTAssertEqual(try ReduceOp.mean(x, axes: [1, 2]).scalars, [2.5, 25])
        XCTAssertEqual(try ReduceOp.mean(x, axes: [3]).shape, [1, 2, 2])
        XCTAssertEqual(try ReduceOp.mean(x, axes: [-1]).scalars, [5.5, 11, 16.5, 22])
    }

    func testDenseMatchesHandComputation() throws {
        let x = Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4])
        let w = Tensor<Float>(shape: [2, 3], scalars: [1, 0, -1, 2, 1, 0])
        let y = try DenseOp.forward(x, w, Tensor(shape: [3], scalars: [0.5, 0, 0]))
        XCTAssertEqual(y.scalars, [5.5, 2, -1, 11.5, 4, -3])
    }

    /// NaN propagates (jax.nn.relu(nan) and torch.relu(nan) are nan); infinities map as max(x, 0) does.
    func testReLUPropagatesNaN() {
        let y = ElementwiseOp.relu(Tensor<Double>(shape: [5], scalars: [.nan, -.infinity, .infinity, -2, 3]))
        XCTAssertTrue(y.scalars[0].isNaN)
        XCTAssertEqual(Array(y.scalars.dropFirst()), [0, .infinity, 0, 3])
    }

    func testReLUGradientIsZeroAtZero() {
        let g = ElementwiseOp.reluBackward(Tensor<Float>.ones([3]), x: Tensor(shape: [3], scalars: [-1, 0, 1]))
        XCTAssertEqual(g.scalars, [0, 0, 1])
    }
}
