#if CUDA
import XCTest
import RefSAM
import RefSAMCUDA
import RefTensor

/// The whole host path (NVRTC compile, module load, allocation, launches, copies) against
/// the stand-in driver, whose kernels run on the CPU emulator: the device step against
/// the CPU reference's `TrainStep.run`.
final class CUDAStepTests: XCTestCase {
    func step<T: RefScalar>(_ model: Model, imageShape: [Int], batch: Int, _ h: StepHyperparameters, sparsity: Double = 0,
                            _: T.Type) throws -> (cpu: StepResult<T>, gpu: StepResult<T>) {
        try CUDATestSupport.useStandInDevice()
        let (p, s) = try model.initialize(seed: 3, imageShape: imageShape, T.self)
        var rng = RandomGenerator(seed: 11)
        let images: Tensor<T> = rng.normalTensor([batch] + imageShape, std: 1)
        let labels = (0..<batch).map { Int32($0 % model.numClasses) }
        var state = TrainState(params: p, batchStats: s)
        state.trace = p.map { _, t in Tensor(shape: t.shape, scalars: t.scalars.map { $0 * T(0.01) }) }
        let cpu = try TrainStep.run(model, state: state, images: images, labels: labels, h)
        let gpu = try CUDATrainer<T>.run(model, state: state, images: images, labels: labels, h)
        return (cpu, gpu)
    }

    func assertClose<T: RefScalar>(_ a: StepResult<T>, _ b: StepResult<T>, rtol: Double, file: StaticString = #filePath, line: UInt = #line) {
        func check(_ name: String, _ x: Tensor<T>, _ y: Tensor<T>) {
            XCTAssertEqual(x.shape, y.shape, name, file: file, line: line)
            let scale = x.scalars.map { abs(Double($0)) }.max() ?? 0
            let err = zip(x.scalars, y.scalars).map { abs(Double($0) - Double($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(err, rtol * max(scale, 1e-30), "\(name): max abs error \(err), scale \(scale)", file: file, line: line)
        }
        check("loss", Tensor(scalar: a.loss), Tensor(scalar: b.loss))
        check("logits", a.logits, b.logits)
        for (name, x, y) in [("grads_first", a.gradsFirst, b.gradsFirst), ("grads", a.grads, b.grads), ("params", a.state.params, b.state.params),
                             ("trace", a.state.trace, b.state.trace), ("batch_stats", a.state.batchStats, b.state.batchStats)] {
            XCTAssertEqual(x.paths, y.paths, name, file: file, line: line)
            for p in x.paths { check(name + "/" + p, x[p]!, y[p]!) }
        }
    }

    func testMLPSAMStepMatchesTheCPUInFloat64() throws {
        let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        let r = try step(Model(.mlp(numNeurons: [13, 7]), numClasses: 10), imageShape: [5, 5, 1], batch: 6, h, Double.self)
        assertClose(r.cpu, r.gpu, rtol: 1e-12)
    }
}
#endif
