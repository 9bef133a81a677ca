import Foundation
import XCTest
@testable import RefSAM

/// The convergence experiment's pieces: the squared loss's gradient, the rate fit,
/// and linear convergence where theory says it must happen.
final class ConvergenceTests: XCTestCase {
    /// Eight 2x2 "images" with labels cycling over 3 classes.
    func tinyData() -> ImageDataset {
        var rng = RandomGenerator(seed: 4)
        return ImageDataset(name: .mnist, pixels: (0..<32).map { _ in UInt8(rng.uniform(below: 256)) },
                            labels: (0..<8).map { Int32($0 % 3) }, imageShape: [2, 2, 1], numClasses: 3)
    }

    /// The squared loss's gradient (a custom op on the tape) against central differences of the loss.
    func testSquaredLossGradientMatchesDifferences() throws {
        let data = tinyData()
        let model = Model(.mlp(numNeurons: [5]), numClasses: 3)
        let (params, _) = try model.initialize(seed: 2, imageShape: [2, 2, 1], Double.self)
        let p = DataPipeline<Double>(dataset: data, batchSize: 8, train: false, seed: 0)
        let (x, y) = p.batch(epoch: 0, index: 0, order: p.order(epoch: 0))
        let (loss, grads) = try Convergence.lossAndGradient(model, params, images: x, targets: y, classes: 3)
        // L = 1/(2n) sum |f - onehot|^2 by hand from the logits.
        let f = try model.logits(params: params, batchStats: TensorTree(), images: x)
        var byHand = 0.0
        for i in 0..<8 { for k in 0..<3 { let r = f.scalars[i * 3 + k] - (k == Int(y[i]) ? 1 : 0); byHand += r * r } }
        XCTAssertEqual(loss, byHand / 16, accuracy: 1e-14)
        let h = 1e-6
        for (path, t) in params.entries {
            for i in [0, t.count / 2, t.count - 1] {
                func at(_ d: Double) throws -> Double {
                    var q = params
                    var s = t.scalars; s[i] += d
                    q[path] = Tensor(shape: t.shape, scalars: s)
                    return try Convergence.lossAndGradient(model, q, images: x, targets: y, classes: 3).0
                }
                let numeric = (try at(h) - at(-h)) / (2 * h)
                XCTAssertEqual(grads[path]!.scalars[i], numeric, accuracy: 1e-7 * max(1, abs(numeric)), "\(path)[\(i)]")
            }
        }
    }

    func testRateFitRecoversAGeometricDecay() {
        let steps = Array(stride(from: 0, through: 1000, by: 10))
        let curve = Convergence.Curve(width: 1, method: "gd", parameters: 1, steps: steps,
                                      losses: steps.map { 3 * pow(0.99, Double($0)) }, ratePerStep: nil, stepsPerDecade: nil, finalLoss: 0)
        let fitted = Convergence.fit(curve)
        XCTAssertEqual(fitted.ratePerStep!, 0.99, accuracy: 1e-12)
        XCTAssertEqual(fitted.stepsPerDecade!, -log(10) / log(0.99), accuracy: 1e-8)
    }

    /// Overparameterised (100 hidden units, 8 examples): full-batch GD and unnormalised
    /// SAM drive the squared loss down geometrically; normalised SAM with a fixed rho
    /// cannot reach zero (its ascent step never shrinks), so it ends higher.
    func testOverparameterisedGDAndUSAMConvergeLinearly() throws {
        var setup = Convergence.Setup()
        setup.widths = [64]; setup.examples = 4; setup.batchSize = 4
        setup.learningRate = 0.3; setup.rho = 0.05; setup.steps = 300; setup.recordEvery = 10
        let curves = try Convergence.run(setup, data: tinyData())
        XCTAssertEqual(curves.map(\.method), ["gd", "sam", "usam"])
        for c in curves where c.method != "sam" {
            XCTAssertLessThan(c.finalLoss, 1e-5 * c.losses[0], c.method)
            XCTAssertLessThan(c.ratePerStep!, 0.99, c.method)
        }
        let gd = curves[0], sam = curves[1]
        XCTAssertGreaterThan(sam.finalLoss, 100 * gd.finalLoss)
    }
}
