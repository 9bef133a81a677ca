import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMFixtures
@testable import RefTensor

/// The float32 conditioned tolerance (`Tolerance`): its perturbations are what they
/// claim, correct independent float32 steps pass it, planted bugs fail it.
/// Resources/float32/ is written by tools/make_float32_cases.py (JAX/Flax and PyTorch).
final class ToleranceTests: XCTestCase {
    static let cases = Repo.resources + "/float32"

    func testInputsMoveExactlyOneUlpAndZerosStay() {
        let values: [Float] = [0, 1, -2.5, 3e-30, -0.0, 7, 1e20, 0.1]
        let tree = TensorTree<Float>([("a", Tensor(shape: [8], scalars: values)), ("b", Tensor(shape: [8], scalars: values))])
        var rng = RandomGenerator(seed: 3)
        let moved = tree.movedOneUlp(&rng)
        var ups = 0, downs = 0
        for path in ["a", "b"] {
            for (x, y) in zip(values, moved[path]!.scalars) {
                if x == 0 { XCTAssertEqual(y, 0); continue }
                XCTAssertTrue(y == x.nextUp || y == x.nextDown, "\(x) -> \(y)")
                if y == x.nextUp { ups += 1 } else { downs += 1 }
            }
        }
        XCTAssertGreaterThan(ups, 0)
        XCTAssertGreaterThan(downs, 0)
    }

    /// The mean of K equal values 1: partial sums S_k = k, so the emulated float32 error
    /// of the mean has standard deviation u sqrt(sum k^2) / K; 4000 channels estimate it
    /// to within 10% (the sample standard deviation's relative error is about 1.1%).
    func testSummationNoiseHasTheRandomWalkSize() throws {
        let k = 64, c = 4000
        let x = Tensor<Double>(shape: [k, c], scalars: [Double](repeating: 1, count: k * c))
        let ones = Tensor<Double>(shape: [c], scalars: [Double](repeating: 1, count: c))
        let zeros = Tensor<Double>.zeros([c])
        let exact = try BatchNormOp.forwardTraining(x, scale: ones, bias: zeros)
        XCTAssertEqual(exact.mean.scalars, [Double](repeating: 1, count: c), "no noise unless set")
        let noisy = try SummationNoise.scope.withValue(SummationNoise(seed: 1)) {
            try BatchNormOp.forwardTraining(x, scale: ones, bias: zeros)
        }
        let expected = SummationNoise.unitRoundoff * (1...k).map { Double($0 * $0) }.reduce(0, +).squareRoot() / Double(k)
        let z = noisy.mean.scalars.map { ($0 - 1) / expected }
        let std = (z.map { $0 * $0 }.reduce(0, +) / Double(c)).squareRoot()
        XCTAssertEqual(std, 1, accuracy: 0.1)
        // The backward sums too: dbias of dy = 1 is the same K-term sum of ones.
        let dy = x
        let b = SummationNoise.scope.withValue(SummationNoise(seed: 2)) {
            BatchNormOp.backward(dy, x: x, scale: ones, mean: exact.mean, invStd: exact.invStd, training: true)
        }
        let zb = b.dbias.scalars.map { ($0 - Double(k)) / (expected * Double(k)) }
        XCTAssertEqual((zb.map { $0 * $0 }.reduce(0, +) / Double(c)).squareRoot(), 1, accuracy: 0.1)
    }

    /// JAX/Flax float32 steps on the inputs of committed float32 fixtures, and this
    /// reference's committed PyTorch float32 fixtures, pass at the default tolerance.
    func testCorrectIndependentFloat32StepsPass() throws {
        let jax = try FileManager.default.contentsOfDirectory(atPath: Self.cases + "/jax").sorted().map { Self.cases + "/jax/" + $0 }
        XCTAssertEqual(jax.count, 2)
        for dir in jax + [Repo.fixtures + "/mlp_sgd_f32/step_001"] {
            let outcome = try FixtureReplay.replay(directory: dir)
            guard case .conditioned = outcome.tolerance else { return XCTFail("\(dir): float32 is judged at the conditioned tolerance") }
            let worst = outcome.results.map(\.errorToTolerance).max() ?? .nan
            XCTAssertTrue(outcome.passed, "\(dir): \(outcome.failures.map(\.name)); worst error/tolerance \(worst)")
        }
    }

    /// PyTorch float32 MLP steps with one planted bug fail, and the planted variant
    /// explains every output; for one, `diagnose` names it and no other. (Every variant on
    /// MLP, ResNet18 and ResNet50 cases, with diagnose, is tools/separation_table.py's:
    /// too slow for a debug build.)
    func testFloat32BugsFailAndAreNamed() throws {
        let bugs = try FileManager.default.contentsOfDirectory(atPath: Self.cases + "/bugs").sorted()
        XCTAssertEqual(bugs.count, 3)
        for name in bugs {
            let dir = Self.cases + "/bugs/" + name
            let f = try Fixture.load(dir)
            let variant = try XCTUnwrap(StepVariant(rawValue: name))
            let failing = try Diagnosis.failingOutputs(f, under: nil)
            XCTAssertFalse(failing.isEmpty, "\(name): verify must fail a planted bug")
            XCTAssertEqual(try Diagnosis.failingOutputs(f, under: variant), [], name)
            if variant == .perLayerNorm {
                XCTAssertEqual(try Diagnosis.of(f).matches, [variant], name)
            }
        }
    }

    /// `--rtol`/`--atol` replace the conditioned tolerance with an elementwise one; the
    /// missing one takes the dtype's elementwise default.
    func testExplicitTolerancesAreElementwise() throws {
        let f = try Fixture.load(Repo.fixtures + "/mlp_sgd_f32/step_000")
        guard case let .elementwise(rtol, atol) = try Tolerance.resolve(f, rtol: 1e-3, atol: nil) else { return XCTFail() }
        XCTAssertEqual(rtol, 1e-3)
        XCTAssertEqual(atol, 1e-6)
        guard case .elementwise(1e-9, 1e-12) = try Tolerance.default(for: try Fixture.load(Repo.fixtures + "/mlp_sgd_f64/step_000")) else {
            return XCTFail("float64 keeps rtol 1e-9, atol 1e-12")
        }
    }
}
