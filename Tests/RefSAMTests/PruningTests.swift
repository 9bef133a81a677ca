import XCTest
@testable import RefSAM
@testable import RefTensor

final class PruningTests: XCTestCase {
    let model = Model(.mlp(numNeurons: [20, 10]), numClasses: 5)

    func setup() throws -> (TensorTree<Double>, TensorTree<Double>) {
        try model.initialize(seed: 11, imageShape: [4, 4, 1], Double.self)
    }

    func kernelZeros(_ mask: TensorTree<Double>) -> [String: Int] {
        var z: [String: Int] = [:]
        for (p, t) in mask.entries { z[p] = t.scalars.filter { $0 == 0 }.count }
        return z
    }

    /// The original's rule at sparsity 0: one weight per layer (random), one in the model (global).
    func testSparsityZeroStillPrunesTheLowestScore() throws {
        let (params, stats) = try setup()
        let random = try Pruning.mask(params: params, scores: Pruning.scores(.random, model: model, params: params, batchStats: stats,
                                                                            seed: 1, images: nil, labels: nil), sparsity: 0, pruner: .random)
        XCTAssertEqual(kernelZeros(random), ["Dense_0/kernel": 1, "Dense_0/bias": 0, "Dense_1/kernel": 1, "Dense_1/bias": 0,
                                             "Dense_2/kernel": 1, "Dense_2/bias": 0])
        let magnitude = try Pruning.mask(params: params, scores: Pruning.scores(.magnitude, model: model, params: params,
                                                                               batchStats: stats, seed: 1, images: nil, labels: nil),
                                         sparsity: 0, pruner: .magnitude)
        XCTAssertEqual(kernelZeros(magnitude).values.reduce(0, +), 1)
    }

    /// Keep exactly the scores > sorted[int(s * n)]: n - int(s * n) - 1 survivors per layer (distinct scores).
    func testRandomPrunesPerLayerAtTheThreshold() throws {
        let (params, stats) = try setup()
        let scores = try Pruning.scores(.random, model: model, params: params, batchStats: stats, seed: 1, images: nil, labels: nil)
        for sparsity in [0.3, 0.5, 0.9] {
            let mask = try Pruning.mask(params: params, scores: scores, sparsity: sparsity, pruner: .random)
            for (p, t) in params.entries where p.hasSuffix("kernel") {
                let n = t.count
                let kept = Int(mask[p]!.scalars.reduce(0, +))
                XCTAssertEqual(kept, n - Int(sparsity * Double(n)) - 1, "\(p) at \(sparsity)")
            }
        }
        let all = try Pruning.mask(params: params, scores: scores, sparsity: 1, pruner: .random)
        for (p, t) in all.entries { XCTAssertEqual(t.scalars.reduce(0, +), p.hasSuffix("kernel") ? 0 : Double(t.count), p) }
    }

    /// SNIP keeps the largest |w * dL/dw| over all kernels: every kept score beats every pruned one.
    func testSnipUsesOneGlobalThresholdOnWeightTimesGradient() throws {
        let (params, stats) = try setup()
        var rng = RandomGenerator(seed: 2)
        let images: Tensor<Double> = rng.normalTensor([6, 4, 4, 1])
        let labels: [Int32] = [0, 1, 2, 3, 4, 0]
        let scores = try Pruning.scores(.snip, model: model, params: params, batchStats: stats, seed: 1, images: images, labels: labels)
        let g = try TrainStep.pass(model, params: params, batchStats: stats, mask: nil, images: images, labels: labels).grads
        let expected = params["Dense_1/kernel"]!.scalars.enumerated().map { abs($0.element * g["Dense_1/kernel"]!.scalars[$0.offset]) }
        XCTAssertEqual(scores["Dense_1/kernel"]!.scalars, expected)
        let mask = try Pruning.mask(params: params, scores: scores, sparsity: 0.6, pruner: .snip)
        var kept: [Double] = [], pruned: [Double] = []
        for p in params.paths where p.hasSuffix("kernel") {
            for (s, m) in zip(scores[p]!.scalars, mask[p]!.scalars) { if m == 1 { kept.append(s) } else { pruned.append(s) } }
        }
        XCTAssertGreaterThan(kept.min()!, pruned.max()!)
        let n = kept.count + pruned.count
        XCTAssertEqual(kept.count, n - Int(0.6 * Double(n)) - 1)
    }

    func testSparsityOutsideTheUnitIntervalIsRefused() throws {
        let (params, stats) = try setup()
        let scores = try Pruning.scores(.magnitude, model: model, params: params, batchStats: stats, seed: 1, images: nil, labels: nil)
        XCTAssertThrowsError(try Pruning.mask(params: params, scores: scores, sparsity: 1.5, pruner: .magnitude)) { e in
            XCTAssertTrue("\(e)".contains("1.5"), "\(e)")
        }
    }

    /// The mask is applied inside the loss: pruned weights get zero gradient and stay zero.
    func testPrunedWeightsStayZeroThroughTraining() throws {
        var (params, stats) = try setup()
        let scores = try Pruning.scores(.random, model: model, params: params, batchStats: stats, seed: 1, images: nil, labels: nil)
        let mask = try Pruning.mask(params: params, scores: scores, sparsity: 0.5, pruner: .random)
        params = try params.zip(mask, *)
        var state = TrainState(params: params, batchStats: stats, mask: mask)
        var rng = RandomGenerator(seed: 3)
        let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        for _ in 0..<3 {
            state = try TrainStep.run(model, state: state, images: rng.normalTensor([4, 4, 4, 1]), labels: [0, 1, 2, 3], h).state
        }
        for (p, m) in mask.entries {
            for (v, keep) in zip(state.params[p]!.scalars, m.scalars) where keep == 0 { XCTAssertEqual(v, 0, p) }
        }
    }
}

final class LabelNoiseTests: XCTestCase {
    func testChangesTheFractionToDifferentClassesFromTheSeed() throws {
        let labels = (0..<1000).map { Int32($0 % 10) }
        let (noisy, changed) = try LabelNoise.apply(labels, fraction: 0.3, numClasses: 10, seed: 7)
        XCTAssertEqual(changed.count, 300)
        XCTAssertEqual(changed, changed.sorted())
        for i in 0..<1000 {
            if changed.contains(i) { XCTAssertNotEqual(noisy[i], labels[i]) } else { XCTAssertEqual(noisy[i], labels[i]) }
        }
        XCTAssertTrue(noisy.allSatisfy { $0 >= 0 && $0 < 10 })
        let again = try LabelNoise.apply(labels, fraction: 0.3, numClasses: 10, seed: 7)
        XCTAssertEqual(again.labels, noisy)
        XCTAssertNotEqual(try LabelNoise.apply(labels, fraction: 0.3, numClasses: 10, seed: 8).changed, changed)
        XCTAssertEqual(try LabelNoise.apply(labels, fraction: 0, numClasses: 10, seed: 7).labels, labels)
        XCTAssertThrowsError(try LabelNoise.apply(labels, fraction: -0.1, numClasses: 10, seed: 7))
    }

    /// The new class is uniform over the other nine: 9,000 flips from class 0 land ~1,000 on each.
    func testNewClassIsUniformOverTheOthers() throws {
        let labels = [Int32](repeating: 0, count: 9000)
        let (noisy, _) = try LabelNoise.apply(labels, fraction: 1, numClasses: 10, seed: 1)
        var counts = [Int](repeating: 0, count: 10)
        for l in noisy { counts[Int(l)] += 1 }
        XCTAssertEqual(counts[0], 0)
        for c in counts.dropFirst() { XCTAssertEqual(Double(c), 1000, accuracy: 150) }
    }

    /// The threshold's selection against its definition, sorted()[k]: random values with
    /// many ties, all equal, ascending, descending; every k of the small arrays.
    func testKthSmallestIsTheSortedArraysKthEntry() {
        var state: UInt64 = 7
        func next(_ n: UInt64) -> Double { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Double((state >> 33) % n) }
        var arrays: [[Double]] = [[3], [2, 1], Array(repeating: 5, count: 100), (0..<100).map(Double.init), (0..<100).reversed().map(Double.init)]
        for n in [17, 50, 200] { arrays.append((0..<n).map { _ in next(7) }); arrays.append((0..<n).map { _ in next(1 << 30) }) }
        for a in arrays {
            let sorted = a.sorted()
            for k in 0..<a.count { XCTAssertEqual(Pruning.kthSmallest(a, k), sorted[k], "n \(a.count) k \(k)") }
        }
        let big = (0..<100_001).map { _ in Float(next(1000)) }, sorted = big.sorted()
        for k in [0, 1, 50_000, 99_999, 100_000] { XCTAssertEqual(Pruning.kthSmallest(big, k), sorted[k]) }
    }
}
