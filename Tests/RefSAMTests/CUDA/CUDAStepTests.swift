#if CUDA
import XCTest
import RefSAM
import RefSAMCUDA
import RefTensor

/// The whole host path (NVRTC compile, module load, allocation, launches, copies) against
/// the stand-in driver, whose kernels run on the CPU emulator: the device step against
/// the CPU reference's `TrainStep.run`.
final class CUDAStepTests: XCTestCase {
    /// The CPU's and the device's step from one state; with `asFixture`, the device's step
    /// is also written as a fixture (for `assertVerifies`).
    func step<T: RefScalar>(_ model: Model, imageShape: [Int], batch: Int, _ h: StepHyperparameters, sparsity: Double = 0,
                            asFixture: Bool = false, _: T.Type) throws -> (cpu: StepResult<T>, gpu: StepResult<T>, fixture: String?) {
        try CUDATestSupport.useStandInDevice()
        let (p, s) = try model.initialize(seed: 3, imageShape: imageShape, T.self)
        var rng = RandomGenerator(seed: 11)
        let images: Tensor<T> = rng.normalTensor([batch] + imageShape, std: 1)
        let labels = (0..<batch).map { Int32($0 % model.numClasses) }
        var state = TrainState(params: p, batchStats: s)
        if sparsity > 0 {
            // Every other weight of each kernel pruned (a fixed pattern; the pruners are tested elsewhere).
            state.mask = TensorTree(p.entries.filter { $0.path.hasSuffix("kernel") }.map { e in
                (e.path, Tensor(shape: e.tensor.shape, scalars: (0..<e.tensor.count).map { $0 % 2 == 0 ? 1 : 0 }))
            })
        }
        state.trace = p.map { _, t in Tensor(shape: t.shape, scalars: t.scalars.map { $0 * T(0.01) }) }
        let cpu = try TrainStep.run(model, state: state, images: images, labels: labels, h)
        let gpu = try CUDATrainer<T>.run(model, state: state, images: images, labels: labels, h)
        guard asFixture else { return (cpu, gpu, nil) }
        // The device's step as a fixture, for this reference's own verdict.
        let dir = try makeTemporaryDirectory("cuda-step")
        try FixtureWriter.write(to: dir, model: model, step: h, state: state, images: images, labels: labels, result: gpu,
                                producer: "CUDAStepTests")
        return (cpu, gpu, dir)
    }

    /// The oracle's verdict on the device step: float32 at the conditioned tolerance (the
    /// error a correct float32 step makes on these inputs), as `ref-run verify` gives it.
    /// Two float32 steps that sum in other orders (the native build's FMA GEMM, the
    /// device's) can differ by more than a fixed relative tolerance where BatchNorm
    /// cancels, so float32 is judged this way, never elementwise.
    func assertVerifies(_ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let results = try FixtureReplay.verify(Fixture.load(fixture))
        XCTAssertGreaterThan(results.count, 10, file: file, line: line)
        for r in results where !r.passed {
            XCTFail("\(r.name): error/tolerance \(r.errorToTolerance), max abs \(r.maxAbsoluteError) \(r.problem ?? "")", file: file, line: line)
        }
    }

    func assertClose<T: RefScalar>(_ a: StepResult<T>, _ b: StepResult<T>, rtol: Double, file: StaticString = #filePath, line: UInt = #line) {
        func check(_ name: String, _ x: Tensor<T>, _ y: Tensor<T>) {
            XCTAssertEqual(x.shape, y.shape, name, file: file, line: line)
            let scale = x.scalars.map { abs(Double($0)) }.max() ?? 0
            let err = zip(x.scalars, y.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
            // atol 1e-12 as the fixtures have it: a gradient that is zero up to rounding (a
            // BatchNorm bias under a later BatchNorm) has no relative scale.
            XCTAssertLessThanOrEqual(err, rtol * scale + 1e-12, "\(name): max abs error \(err), scale \(scale)", file: file, line: line)
        }
        check("loss", Tensor(scalar: a.loss), Tensor(scalar: b.loss))
        check("logits", a.logits, b.logits)
        for (name, x, y) in [("grads_first", a.gradsFirst, b.gradsFirst), ("grads", a.grads, b.grads), ("params", a.state.params, b.state.params),
                             ("trace", a.state.trace, b.state.trace), ("batch_stats", a.state.batchStats, b.state.batchStats)] {
            XCTAssertEqual(x.paths, y.paths, name, file: file, line: line)
            for p in x.paths { check(name + "/" + p, x[p]!, y[p]!) }
        }
    }

    static let sam = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
    static let sgd = StepHyperparameters(optimizer: .sgd, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)

    func testResNet18SAMStepMatchesTheCPUInFloat64() throws {
        // conv (3x3 padded, strided, 1x1 projections), BatchNorm, residual adds, average pool, dense.
        let r = try step(Model(.resNet18(numFilters: 2), numClasses: 10), imageShape: [32, 32, 3], batch: 2, Self.sam, Double.self)
        assertClose(r.cpu, r.gpu, rtol: 1e-10)
    }

    func testResNet50SGDStepMatchesTheCPUInFloat32() throws {
        // 7x7 stride-2 stem, SAME max pool, bottlenecks, spatial mean.
        let r = try step(Model(.resNet50ImageNet(numFilters: 1), numClasses: 5), imageShape: [16, 16, 3], batch: 3, Self.sgd,
                         asFixture: true, Float.self)
        try assertVerifies(XCTUnwrap(r.fixture))
    }

    func testResNet50WithSharedStatisticsShardsMatchesTheCPU() throws {
        // Two shards with one parameter copy each, BatchNorm statistics over both
        // (shardedBatchNorm, batch slices and concatenation on the device).
        let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, samShards: 2)
        let r = try step(Model(.resNet50ImageNet(numFilters: 1), numClasses: 5), imageShape: [16, 16, 3], batch: 4, h, Double.self)
        assertClose(r.cpu, r.gpu, rtol: 1e-9)
    }

    /// Evaluation on the device (BatchNorm with the running statistics, no masks) gives
    /// the CPU's logits, after a step has moved the state and the statistics.
    func testEvaluationLogitsMatchTheCPU() throws {
        try CUDATestSupport.useStandInDevice()
        for (model, shape) in [(Model(.resNet18(numFilters: 2), numClasses: 10), [32, 32, 3]),
                               (Model(.resNet50ImageNet(numFilters: 1), numClasses: 5), [16, 16, 3])] {
            let (p, s) = try model.initialize(seed: 6, imageShape: shape, Double.self)
            let trainer = try CUDATrainer<Double>(model: model, state: TrainState(params: p, batchStats: s), batchSize: 2, imageShape: shape, Self.sam)
            var rng = RandomGenerator(seed: 12)
            _ = try trainer.step(images: rng.normalTensor([2] + shape), labels: [1, 3])
            let state = try trainer.state()
            let images: Tensor<Double> = rng.normalTensor([3] + shape)        // another batch size than training's
            let cpu = try model.logits(params: state.params, batchStats: state.batchStats, images: images)
            let gpu = try trainer.evaluationLogits(images)
            XCTAssertEqual(gpu.shape, cpu.shape)
            let scale = cpu.scalars.map(abs).max() ?? 0
            XCTAssertLessThanOrEqual(zip(cpu.scalars, gpu.scalars).map { abs($0 - $1) }.max() ?? 0, 1e-12 * scale, "\(model)")
        }
    }

    func testMaskedMLPWithTwoShardsMatchesTheCPU() throws {
        let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, samShards: 2)
        let r = try step(Model(.mlp(numNeurons: [9]), numClasses: 4), imageShape: [3, 3, 2], batch: 6, h, sparsity: 0.5, Double.self)
        assertClose(r.cpu, r.gpu, rtol: 1e-12)
    }

    /// A step uploads its batch once (images, labels) and copies back only its loss and
    /// logits; consecutive steps on the device equal consecutive CPU steps.
    func testAStepCopiesOnlyItsBatchInAndItsLossAndLogitsOut() throws {
        try CUDATestSupport.useStandInDevice()
        let counters = try CUDATestSupport.symbol("standin_counters", as: (@convention(c) (UnsafeMutablePointer<UInt64>) -> Void).self)
        func read() -> [UInt64] { var c = [UInt64](repeating: 0, count: 5); counters(&c); return c }
        let model = Model(.mlp(numNeurons: [20]), numClasses: 10)
        let (p, s) = try model.initialize(seed: 4, imageShape: [8, 8, 3], Float.self)
        var cpu = TrainState(params: p, batchStats: s)
        let trainer = try CUDATrainer<Float>(model: model, state: cpu, batchSize: 2, imageShape: [8, 8, 3], Self.sam)
        var rng = RandomGenerator(seed: 8)
        for k in 0..<2 {
            let images: Tensor<Float> = rng.normalTensor([2, 8, 8, 3]), labels: [Int32] = [Int32(k), 7]
            let before = read()
            let out = try trainer.step(images: images, labels: labels)
            let after = read()
            XCTAssertEqual(after[0] - before[0], 2, "uploads per step: the images and the labels")
            XCTAssertEqual(after[1] - before[1], UInt64(images.count * 4 + 2 * 4), "bytes uploaded: the batch")
            XCTAssertEqual(after[2] - before[2], 2, "copies back per step: the loss and the logits")
            XCTAssertEqual(after[3] - before[3], UInt64(4 + 2 * 10 * 4), "bytes copied back: one loss and [2, 10] logits")
            let r = try TrainStep.run(model, state: cpu, images: images, labels: labels, Self.sam)
            XCTAssertEqual(Double(out.loss), Double(r.loss), accuracy: 1e-4 * Double(abs(r.loss)), "step \(k) loss")
            cpu = r.state
        }
        let device = try trainer.state()
        XCTAssertEqual(device.step, 2)
        for path in cpu.params.paths {
            let (a, b) = (cpu.params[path]!.scalars, device.params[path]!.scalars)
            let scale = Double(a.map(abs).max() ?? 0)
            XCTAssertLessThanOrEqual(zip(a, b).map { Double(abs($0 - $1)) }.max() ?? 0, 1e-4 * scale, path)
        }
    }

    func testMLPSAMStepMatchesTheCPUInFloat64() throws {
        let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        let r = try step(Model(.mlp(numNeurons: [13, 7]), numClasses: 10), imageShape: [5, 5, 1], batch: 6, h, Double.self)
        assertClose(r.cpu, r.gpu, rtol: 1e-12)
    }
}
#endif
