import XCTest
@testable import RefSAM
@testable import RefTensor

/// SAM's math on L(w) = 1/2 w^T H w, where everything has a closed form.
final class SAMMathTests: XCTestCase {
    // A symmetric positive-definite H and a point w.
    let H: [[Double]] = [[3, 1, 0.5], [1, 2, 0.25], [0.5, 0.25, 1]]
    let w: [Double] = [0.7, -1.2, 0.4]

    func hv(_ v: [Double]) -> [Double] { H.map { row in zip(row, v).map(*).reduce(0, +) } }
    func tree(_ v: [Double]) -> TensorTree<Double> { TensorTree([("w", Tensor(shape: [3], scalars: v))]) }
    func gradient(_ p: TensorTree<Double>) -> TensorTree<Double> { tree(hv(p["w"]!.scalars)) }

    func testSAMStepMatchesTheClosedForm() throws {
        let (lr, rho) = (0.1, 0.05)
        let h = StepHyperparameters(optimizer: .sam, rho: rho, learningRate: lr, momentum: 0.9, weightDecay: 0)
        let g1 = gradient(tree(w))
        let g = try TrainStep.samGradient(params: tree(w), firstGradient: g1, rho: rho, gradientAt: gradient)
        let update = try TrainStep.momentumUpdate(params: tree(w), trace: tree([0, 0, 0]), gradient: g, h)
        // w - lr * H (w + rho * Hw / ||Hw||), with SAM's 1e-12 added to the norm
        // (it moves the result by ~3e-13 here, far above Double rounding).
        let hw = hv(w)
        let norm = hw.map { $0 * $0 }.reduce(0, +).squareRoot() + 1e-12
        let expected = zip(w, hv(zip(w, hw).map { $0 + rho * $1 / norm })).map { $0 - lr * $1 }
        for (a, b) in zip(update.params["w"]!.scalars, expected) { XCTAssertEqual(a, b, accuracy: 1e-15) }
    }

    func testPerturbationHasNormRho() throws {
        for rho in [0.05, 0.5, 2.0] {
            let p = try TrainStep.perturb(tree(w), along: gradient(tree(w)), rho: rho)
            let eps = zip(p["w"]!.scalars, w).map { $0 - $1 }
            // ||eps|| = rho * ||g|| / (||g|| + 1e-12)
            let g = hv(w).map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertEqual(eps.map { $0 * $0 }.reduce(0, +).squareRoot(), rho * g / (g + 1e-12), accuracy: 1e-15)
            XCTAssertEqual(eps.map { $0 * $0 }.reduce(0, +).squareRoot(), rho, accuracy: rho * 1e-12)
        }
    }

    func testWeightDecayUsesTheUnperturbedParameters() throws {
        let (lr, rho, wd) = (0.1, 0.3, 0.01)
        let h = StepHyperparameters(optimizer: .sam, rho: rho, learningRate: lr, momentum: 0, weightDecay: wd)
        let g = try TrainStep.samGradient(params: tree(w), firstGradient: gradient(tree(w)), rho: rho, gradientAt: gradient)
        let update = try TrainStep.momentumUpdate(params: tree(w), trace: tree([0, 0, 0]), gradient: g, h)
        let hw = hv(w)
        let norm = hw.map { $0 * $0 }.reduce(0, +).squareRoot() + 1e-12
        let samGrad = hv(zip(w, hw).map { $0 + rho * $1 / norm })
        let expected = zip(samGrad, w).map { $0 + wd * $1 }            // wd * w, not wd * (w + eps)
        for (a, b) in zip(update.grads["w"]!.scalars, expected) { XCTAssertEqual(a, b, accuracy: 1e-15) }
    }

    /// optax.sgd: trace' = g + momentum * trace; p' = p - lr * trace'.
    func testMomentumFollowsOptax() throws {
        let h = StepHyperparameters(optimizer: .sgd, rho: 0, learningRate: 0.5, momentum: 0.9, weightDecay: 0)
        let u = try TrainStep.momentumUpdate(params: tree([1, 1, 1]), trace: tree([1, 2, 3]), gradient: tree([0.5, 0, -1]), h)
        XCTAssertEqual(u.trace["w"]!.scalars, [0.5 + 0.9 * 1, 0.9 * 2, -1 + 0.9 * 3])
        XCTAssertEqual(u.params["w"]!.scalars, [1 - 0.5 * (0.5 + 0.9), 1 - 0.5 * (0.9 * 2), 1 - 0.5 * (-1 + 0.9 * 3)])
    }

    func testZeroGradientGivesNoNaN() throws {
        let zero = tree([0, 0, 0])
        let p = try TrainStep.perturb(tree(w), along: zero, rho: 0.05)
        XCTAssertEqual(p["w"]!.scalars, w)
        XCTAssertFalse(p["w"]!.scalars.contains { $0.isNaN })
    }

    func testSAMWithRhoZeroIsSGDBitForBit() throws {
        let model = Model(.resNet18(numFilters: 2), numClasses: 10)
        let (params, stats) = try model.initialize(seed: 3, imageShape: [32, 32, 3], Float.self)
        var rng = RandomGenerator(seed: 4)
        let images: Tensor<Float> = rng.normalTensor([4, 32, 32, 3])
        let labels: [Int32] = [1, 7, 3, 3]
        var state = TrainState(params: params, batchStats: stats)
        state.trace = try state.trace.zip(params) { _, p in p * 0.1 }   // non-zero momentum
        let sgd = StepHyperparameters(optimizer: .sgd, rho: 0, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        var sam = sgd; sam.optimizer = .sam
        let a = try TrainStep.run(model, state: state, images: images, labels: labels, sgd)
        let b = try TrainStep.run(model, state: state, images: images, labels: labels, sam)
        XCTAssertEqual(a.state, b.state)
        XCTAssertEqual(a.grads, b.grads)
        XCTAssertEqual(a.loss.bitPattern, b.loss.bitPattern)
    }

    /// The second pass must not touch the running statistics: SAM and SGD at any rho
    /// leave the same batch_stats (both from the first pass).
    func testSecondPassBatchStatisticsAreDiscarded() throws {
        let model = Model(.resNet18(numFilters: 2), numClasses: 10)
        let (params, stats) = try model.initialize(seed: 5, imageShape: [32, 32, 3], Double.self)
        var rng = RandomGenerator(seed: 6)
        let images: Tensor<Double> = rng.normalTensor([2, 32, 32, 3])
        let state = TrainState(params: params, batchStats: stats)
        let sam = StepHyperparameters(optimizer: .sam, rho: 0.5, learningRate: 0.1, momentum: 0.9, weightDecay: 0)
        var sgd = sam; sgd.optimizer = .sgd
        let a = try TrainStep.run(model, state: state, images: images, labels: [0, 1], sam)
        let b = try TrainStep.run(model, state: state, images: images, labels: [0, 1], sgd)
        XCTAssertEqual(a.state.batchStats, b.state.batchStats)
        XCTAssertNotEqual(a.grads, b.grads)
    }

    /// The step that advances its state in place gives the state and result of the one
    /// that returns a new state, SAM and SGD, one shard and two (ResNet50's shared
    /// statistics: its own path); a step that throws leaves the state as it was.
    func testStepInPlaceMatchesStepReturningState() throws {
        for (model, shape, shards) in [(Model(.mlp(numNeurons: [5]), numClasses: 3), [2, 2, 1], 1),
                                       (Model(.mlp(numNeurons: [5]), numClasses: 3), [2, 2, 1], 2),
                                       (Model(.resNet50ImageNet(numFilters: 1), numClasses: 3), [32, 32, 3], 2)] {
            let (params, stats) = try model.initialize(seed: 8, imageShape: shape, Double.self)
            var rng = RandomGenerator(seed: 9)
            let images: Tensor<Double> = rng.normalTensor([4] + shape)
            for optimizer in [Optimizer.sam, .sgd] {
                var h = StepHyperparameters(optimizer: optimizer, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
                h.samShards = shards
                let start = TrainState(params: params, batchStats: stats)
                let returned = try TrainStep.run(model, state: start, images: images, labels: [0, 1, 2, 0], h)
                var state = start
                let inPlace = try TrainStep.run(model, state: &state, images: images, labels: [0, 1, 2, 0], h)
                XCTAssertEqual(state, returned.state, "\(model) \(optimizer) \(shards) shards")
                XCTAssertEqual(inPlace.state, returned.state)
                XCTAssertEqual(inPlace.grads, returned.grads)
                XCTAssertEqual(inPlace.gradsFirst, returned.gradsFirst)
                XCTAssertEqual(inPlace.loss.bitPattern, returned.loss.bitPattern)
                XCTAssertEqual(start.params, params, "the caller's copy of the state is untouched")
                let before = state
                XCTAssertThrowsError(try TrainStep.run(model, state: &state, images: images, labels: [0, 1, 2], h))
                XCTAssertEqual(state, before, "a step that throws changes nothing")
            }
        }
    }

    func testShardsMustDivideTheBatch() throws {
        let model = Model(.mlp(numNeurons: [4]), numClasses: 3)
        let (params, stats) = try model.initialize(seed: 1, imageShape: [2, 2, 1], Double.self)
        var h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 0)
        h.samShards = 2
        XCTAssertThrowsError(try TrainStep.run(model, state: TrainState(params: params, batchStats: stats),
                                               images: .zeros([3, 2, 2, 1]), labels: [0, 1, 2], h)) { e in
            XCTAssertTrue("\(e)".contains("3") && "\(e)".contains("2 equal shards"), "\(e)")
        }
    }
}
