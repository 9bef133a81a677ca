import XCTest
@testable import RefTensor

/// A Double-precision gradient check of every op, with the defaults of
/// torch.autograd.gradcheck (eps 1e-6, atol 1e-5, rtol 1e-3). Each test prints its
/// worst errors as `GRADCHECK <op> ...` lines.
final class GradientCheckTests: XCTestCase {
    /// A scalar that depends on every element of y with a distinct weight:
    /// mean(y * r) with r fixed and random, so no gradient can cancel by symmetry.
    static func project(_ tape: Tape<Double>, _ y: Variable, seed: UInt64 = 99) throws -> Variable {
        let shape = tape[y].shape
        let r: Tensor<Double> = randomTensor(shape, seed: seed)
        return try tape.mean(tape.multiply(y, mask: r), axes: Array(0..<shape.count))
    }

    func gradcheck(_ name: String, _ inputs: [Tensor<Double>], file: StaticString = #filePath, line: UInt = #line,
                   _ f: (Tape<Double>, [Variable]) throws -> Variable) throws {
        let report = try GradientCheck.check(inputs: inputs, f)
        print("GRADCHECK \(name): worst rel \(report.worstRelativeError) worst abs \(report.worstAbsoluteError) over \(report.checkedElements) elements")
        XCTAssertTrue(report.passed, "\(name): \(report)", file: file, line: line)
        XCTAssertGreaterThan(report.checkedElements, 0, file: file, line: line)
    }

    /// Entries of magnitude at least 0.2 (away from ReLU's kink and max-pool ties).
    static func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor<Double> {
        var t: Tensor<Double> = randomTensor(shape, seed: seed)
        for i in 0..<t.count { t.scalars[i] = t.scalars[i] < 0 ? t.scalars[i] - 0.2 : t.scalars[i] + 0.2 }
        return t
    }

    func testDense() throws {
        try gradcheck("dense", [randomTensor([3, 5], seed: 1), randomTensor([5, 4], seed: 2), randomTensor([4], seed: 3)]) { t, v in
            try Self.project(t, t.dense(v[0], kernel: v[1], bias: v[2]))
        }
        try gradcheck("dense (no bias)", [randomTensor([2, 3], seed: 4), randomTensor([3, 7], seed: 5)]) { t, v in
            try Self.project(t, t.dense(v[0], kernel: v[1], bias: nil))
        }
    }

    func conv(_ name: String, input: [Int], kernel: [Int], strides: (Int, Int), padding: Padding) throws {
        try gradcheck(name, [randomTensor(input, seed: 11), randomTensor(kernel, seed: 12)]) { t, v in
            try Self.project(t, t.conv2d(v[0], kernel: v[1], strides: strides, padding: padding))
        }
    }

    func testConv3x3Stride1Same() throws {
        try conv("conv2d 3x3 s1 SAME", input: [2, 5, 5, 2], kernel: [3, 3, 2, 3], strides: (1, 1), padding: .same)
    }
    func testConv3x3Stride2SameAsymmetric() throws {   // even input: SAME pads (0, 1)
        try conv("conv2d 3x3 s2 SAME (asymmetric)", input: [2, 6, 6, 2], kernel: [3, 3, 2, 3], strides: (2, 2), padding: .same)
    }
    func testConv3x3ExplicitAsymmetricPadding() throws {
        try conv("conv2d 3x3 s1 pad (1,2),(0,1)", input: [1, 5, 4, 2], kernel: [3, 3, 2, 2], strides: (1, 1),
                 padding: .explicit(height: (1, 2), width: (0, 1)))
    }
    func testConv1x1Stride1() throws {
        try conv("conv2d 1x1 s1", input: [2, 3, 3, 4], kernel: [1, 1, 4, 3], strides: (1, 1), padding: .valid)
    }
    func testConv1x1Stride2() throws {
        try conv("conv2d 1x1 s2", input: [2, 5, 5, 3], kernel: [1, 1, 3, 4], strides: (2, 2), padding: .valid)
    }
    func testConv7x7Stride2Pad3() throws {
        try conv("conv2d 7x7 s2 pad 3", input: [1, 8, 8, 2], kernel: [7, 7, 2, 2], strides: (2, 2),
                 padding: .explicit(height: (3, 3), width: (3, 3)))
    }

    func testBatchNormTraining() throws {
        try gradcheck("batchNorm (train, NHWC)", [randomTensor([3, 2, 2, 3], seed: 21), randomTensor([3], seed: 22),
                                                   randomTensor([3], seed: 23)]) { t, v in
            try Self.project(t, t.batchNorm(v[0], scale: v[1], bias: v[2]).y)
        }
        try gradcheck("batchNorm (train, [N, C])", [randomTensor([5, 4], seed: 24), randomTensor([4], seed: 25),
                                                     randomTensor([4], seed: 26)]) { t, v in
            try Self.project(t, t.batchNorm(v[0], scale: v[1], bias: v[2]).y)
        }
    }

    /// Statistics over all rows, one scale and bias per shard (ResNet50 under sam_shards).
    func testShardedBatchNorm() throws {
        try gradcheck("shardedBatchNorm (3 shards, NHWC)", [randomTensor([6, 2, 2, 3], seed: 27),
                                                           randomTensor([3], seed: 28), randomTensor([3], seed: 29), randomTensor([3], seed: 30),
                                                           randomTensor([3], seed: 36), randomTensor([3], seed: 37), randomTensor([3], seed: 38)]) { t, v in
            try Self.project(t, t.shardedBatchNorm(v[0], scales: [v[1], v[2], v[3]], biases: [v[4], v[5], v[6]]).y)
        }
    }

    func testSliceAndConcatBatch() throws {
        try gradcheck("sliceBatch/concatBatch", [randomTensor([4, 3, 2], seed: 64), randomTensor([1, 3, 2], seed: 65)]) { t, v in
            let a = try t.sliceBatch(v[0], start: 1, count: 2), b = try t.sliceBatch(v[0], start: 3, count: 1)
            return try Self.project(t, t.concatBatch([b, v[1], a, a]))
        }
    }

    func testBatchNormEvaluation() throws {
        var variance: Tensor<Double> = randomTensor([3], seed: 31)
        variance.scalars = variance.scalars.map { abs($0) + 0.5 }
        let mean: Tensor<Double> = randomTensor([3], seed: 32)
        try gradcheck("batchNorm (eval)", [randomTensor([2, 2, 2, 3], seed: 33), randomTensor([3], seed: 34),
                                           randomTensor([3], seed: 35)]) { t, v in
            try Self.project(t, t.batchNorm(v[0], scale: v[1], bias: v[2], runningMean: mean, runningVariance: variance))
        }
    }

    func testReLU() throws {
        try gradcheck("relu", [Self.awayFromZero([4, 5], seed: 41)]) { t, v in try Self.project(t, t.relu(v[0])) }
    }

    func testAdd() throws {
        try gradcheck("add", [randomTensor([2, 3, 2], seed: 42), randomTensor([2, 3, 2], seed: 43)]) { t, v in
            try Self.project(t, t.add(v[0], v[1]))
        }
    }

    func testMultiplyByMask() throws {
        let mask = Tensor<Double>(shape: [3, 4], scalars: (0..<12).map { $0 % 3 == 0 ? 0 : 1 })
        try gradcheck("multiply(mask)", [randomTensor([3, 4], seed: 44)]) { t, v in
            try Self.project(t, t.multiply(v[0], mask: mask))
        }
    }

    func testAvgPool() throws {
        try gradcheck("avgPool 2x2 s2", [randomTensor([2, 4, 4, 3], seed: 51)]) { t, v in
            try Self.project(t, t.avgPool(v[0], window: (2, 2), strides: (2, 2)))
        }
        try gradcheck("avgPool 4x4 s4", [randomTensor([1, 8, 8, 2], seed: 52)]) { t, v in
            try Self.project(t, t.avgPool(v[0], window: (4, 4), strides: (4, 4)))
        }
    }

    func testMaxPool3x3Stride2Same() throws {
        // Distinct values spaced 0.01 apart: no tie within 2 eps, so the max is differentiable.
        var rng = RandomGenerator(seed: 53)
        let order = rng.permutation(2 * 7 * 7 * 2)
        let x = Tensor<Double>(shape: [2, 7, 7, 2], scalars: order.map { Double($0) * 0.01 })
        try gradcheck("maxPool 3x3 s2 SAME", [x]) { t, v in
            try Self.project(t, t.maxPool(v[0], window: (3, 3), strides: (2, 2), padding: .same))
        }
    }

    func testMeanOverAxes() throws {
        try gradcheck("mean over H, W", [randomTensor([2, 3, 4, 5], seed: 61)]) { t, v in
            try Self.project(t, t.mean(v[0], axes: [1, 2]))
        }
        try gradcheck("mean over axis 0 and -1", [randomTensor([3, 4, 2], seed: 62)]) { t, v in
            try Self.project(t, t.mean(v[0], axes: [0, -1]))
        }
    }

    func testReshapeAndFlatten() throws {
        try gradcheck("reshape/flatten", [randomTensor([2, 3, 2, 2], seed: 63)]) { t, v in
            let r = try t.reshape(v[0], to: [4, 6])
            return try Self.project(t, t.flatten(t.reshape(r, to: [2, 2, 6])))
        }
    }

    func testSoftmaxCrossEntropy() throws {
        let labels: [Int32] = [2, 0, 4, 1]
        try gradcheck("softmaxCrossEntropy", [randomTensor([4, 5], seed: 71)]) { t, v in
            try t.softmaxCrossEntropy(logits: v[0], labels: labels)
        }
    }

    /// Flatten -> Dense -> ReLU -> Dense (masked kernel) -> cross-entropy.
    func testTinyMLP() throws {
        let labels: [Int32] = [1, 0, 2]
        let mask = Tensor<Double>(shape: [4, 3], scalars: (0..<12).map { $0 % 4 == 1 ? 0 : 1 })
        let inputs: [Tensor<Double>] = [randomTensor([3, 2, 2, 2], seed: 81), randomTensor([8, 4], seed: 82), randomTensor([4], seed: 83),
                                        randomTensor([4, 3], seed: 84), randomTensor([3], seed: 85)]
        try gradcheck("tiny MLP", inputs) { t, v in
            let h = try t.relu(t.dense(t.flatten(v[0]), kernel: v[1], bias: v[2]))
            let logits = try t.dense(h, kernel: t.multiply(v[3], mask: mask), bias: v[4])
            return try t.softmaxCrossEntropy(logits: logits, labels: labels)
        }
    }

    /// A ResNet block with a projection shortcut (stride 2), then global mean pool,
    /// Dense and cross-entropy: the residual input is used twice.
    func testTinyResNetBlockWithProjection() throws {
        let labels: [Int32] = [1, 0]
        let c = 2, f = 3
        let inputs: [Tensor<Double>] = [
            randomTensor([2, 4, 4, c], seed: 91),
            randomTensor([3, 3, c, f], seed: 92), randomTensor([f], seed: 93), randomTensor([f], seed: 94),   // Conv_0, BN_0
            randomTensor([3, 3, f, f], seed: 95), randomTensor([f], seed: 96), randomTensor([f], seed: 97),   // Conv_1, BN_1
            randomTensor([1, 1, c, f], seed: 98), randomTensor([f], seed: 99), randomTensor([f], seed: 100),  // conv_proj, norm_proj
            randomTensor([f, 2], seed: 101), randomTensor([2], seed: 102),                                    // Dense_0
        ]
        try gradcheck("tiny ResNet block (projection)", inputs) { t, v in
            var y = try t.conv2d(v[0], kernel: v[1], strides: (2, 2), padding: .explicit(height: (1, 1), width: (1, 1)))
            y = try t.relu(t.batchNorm(y, scale: v[2], bias: v[3]).y)
            y = try t.conv2d(y, kernel: v[4], padding: .explicit(height: (1, 1), width: (1, 1)))
            y = try t.batchNorm(y, scale: v[5], bias: v[6]).y
            var shortcut = try t.conv2d(v[0], kernel: v[7], strides: (2, 2), padding: .valid)
            shortcut = try t.batchNorm(shortcut, scale: v[8], bias: v[9]).y
            let out = try t.relu(t.add(shortcut, y))
            let logits = try t.dense(t.mean(out, axes: [1, 2]), kernel: v[10], bias: v[11])
            return try t.softmaxCrossEntropy(logits: logits, labels: labels)
        }
    }

    /// The checker must catch a wrong gradient rule: d/dx sum(x^2) reported as 3x.
    func testCheckerRejectsAWrongRule() throws {
        func square(_ t: Tape<Double>, _ x: Variable, slope: Double) throws -> Variable {
            let v = t[x]
            return try t.custom("square", inputs: [x], value: Tensor(shape: v.shape, scalars: v.scalars.map { $0 * $0 })) { dy in
                [Tensor(shape: v.shape, scalars: zip(dy.scalars, v.scalars).map { $0 * slope * $1 })]
            }
        }
        let x: Tensor<Double> = randomTensor([6], seed: 7)
        let wrong = try GradientCheck.check(inputs: [x]) { t, v in try Self.project(t, square(t, v[0], slope: 3)) }
        XCTAssertFalse(wrong.passed, "a gradient off by 50% must fail: \(wrong)")
        let right = try GradientCheck.check(inputs: [x]) { t, v in try Self.project(t, square(t, v[0], slope: 2)) }
        XCTAssertTrue(right.passed, "\(right)")
        // A subtle error (0.5% off) must fail too: above rtol 1e-3.
        let subtle = try GradientCheck.check(inputs: [x]) { t, v in try Self.project(t, square(t, v[0], slope: 2.01)) }
        XCTAssertFalse(subtle.passed, "\(subtle)")
    }
}
