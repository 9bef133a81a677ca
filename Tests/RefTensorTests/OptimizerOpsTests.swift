import XCTest
@testable import RefTensor

/// The fused optimizer passes against their unfused formulas, on sizes that span
/// several parallel chunks, for several thread counts.
final class OptimizerOpsTests: XCTestCase {
    static let n = 3 * Threads.chunk + 5

    func testSumOfSquaresMatchesExtendedPrecisionSumAndIgnoresThreads() {
        let x: Tensor<Float> = randomTensor([Self.n], seed: 21)
        #if arch(x86_64)
        // Reference in 64-bit-mantissa Float80; each square of a Float is exact in Double.
        var exact: Float80 = 0
        for v in x.scalars { exact += Float80(v) * Float80(v) }
        let reference = Double(exact)
        #else
        let reference = x.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
        #endif
        let one = withThreads(1) { OptimizerOp.sumOfSquares(x) }
        // Lane and chunk partial sums of positive terms: relative error well under 1e-13.
        XCTAssertEqual(one, reference, accuracy: 1e-13 * reference)
        for threads in [2, 3, 8] {
            XCTAssertEqual(withThreads(threads) { OptimizerOp.sumOfSquares(x) }.bitPattern, one.bitPattern, "threads \(threads)")
        }
        XCTAssertEqual(OptimizerOp.sumOfSquares(Tensor<Double>(shape: [3], scalars: [1, 2, 3])), 14)
        XCTAssertEqual(OptimizerOp.sumOfSquares(Tensor<Double>.zeros([0])), 0)
    }

    func checkMomentumStep<T: RefScalar>(_: T.Type) {
        let p: Tensor<T> = randomTensor([Self.n], seed: 1), t: Tensor<T> = randomTensor([Self.n], seed: 2)
        let g: Tensor<T> = randomTensor([Self.n], seed: 3)
        let (wd, mu, lr): (T, T, T) = (T(5e-4), T(0.9), T(0.1))
        for threads in [1, 2, 3] {
            let r = withThreads(threads) { OptimizerOp.momentumStep(param: p, trace: t, gradient: g, weightDecay: wd, momentum: mu, learningRate: lr) }
            for i in stride(from: 0, to: Self.n, by: 997) + [Self.n - 1] {
                let gi = g.scalars[i] + wd * p.scalars[i]
                let ti = gi + mu * t.scalars[i]
                XCTAssertEqual(r.gradient.scalars[i], gi, "g' [\(i)]")
                XCTAssertEqual(r.trace.scalars[i], ti, "trace' [\(i)]")
                XCTAssertEqual(r.param.scalars[i], p.scalars[i] - lr * ti, "p' [\(i)]")
            }
            let a = withThreads(threads) { OptimizerOp.ascentPoint(p, gradient: g, rho: T(0.05), denominator: T(3)) }
            for i in stride(from: 0, to: Self.n, by: 997) + [Self.n - 1] {
                XCTAssertEqual(a.scalars[i], p.scalars[i] + T(0.05) * (g.scalars[i] / T(3)), "ascent [\(i)]")
            }
        }
    }

    /// The in-place step writes, element for element, what `momentumStep` returns (every
    /// element compared, n not a multiple of the eight-lane loop), and leaves a tensor
    /// it shared with another value untouched there (copy on write).
    func checkMomentumStepInPlace<T: RefScalar>(_: T.Type) {
        let n = Self.n + 5
        let p: Tensor<T> = randomTensor([n], seed: 4), t: Tensor<T> = randomTensor([n], seed: 5)
        let g: Tensor<T> = randomTensor([n], seed: 6)
        let (wd, mu, lr): (T, T, T) = (T(5e-4), T(0.9), T(0.1))
        let expected = OptimizerOp.momentumStep(param: p, trace: t, gradient: g, weightDecay: wd, momentum: mu, learningRate: lr)
        for threads in [1, 2] {
            var (p2, t2, g2) = (p, t, g)
            withThreads(threads) {
                OptimizerOp.momentumStepInPlace(param: &p2, trace: &t2, gradient: &g2, weightDecay: wd, momentum: mu, learningRate: lr)
            }
            XCTAssertEqual(bits(p2), bits(expected.param), "param, \(threads) threads")
            XCTAssertEqual(bits(t2), bits(expected.trace), "trace, \(threads) threads")
            XCTAssertEqual(bits(g2), bits(expected.gradient), "gradient, \(threads) threads")
            XCTAssertNotEqual(bits(p2), bits(p), "the shared original is not written")
        }
    }

    func testMomentumStepInPlaceFloat() { checkMomentumStepInPlace(Float.self) }
    func testMomentumStepInPlaceDouble() { checkMomentumStepInPlace(Double.self) }

    func testMomentumStepAndAscentPointFloat() { checkMomentumStep(Float.self) }
    func testMomentumStepAndAscentPointDouble() { checkMomentumStep(Double.self) }
}
