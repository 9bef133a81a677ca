import Foundation
import XCTest
@testable import RefSAM

final class ScheduleTests: XCTestCase {
    /// MNIST: 60,000 examples at batch 128 -> 469 steps per epoch; 100 epochs.
    func testStepMNISTBoundariesAndValuesAroundThem() {
        let s = LearningRateSchedule(kind: .stepMNIST, baseLearningRate: 0.1, numEpochs: 100,
                                     stepsPerEpoch: LearningRateSchedule.stepsPerEpoch(examples: 60_000, batchSize: 128))
        XCTAssertEqual(s.stepsPerEpoch, 469)
        XCTAssertEqual(s.boundaries, [11_725, 23_450, 35_175])   // int(100 * f * 469)
        XCTAssertEqual(s(0), 0.1)
        XCTAssertEqual(s(11_724), 0.1)
        XCTAssertEqual(s(11_725), 0.1 * 0.1, accuracy: 1e-18)   // applies from count == boundary
        XCTAssertEqual(s(23_449), 0.01, accuracy: 1e-17)
        XCTAssertEqual(s(23_450), 0.001, accuracy: 1e-18)
        XCTAssertEqual(s(35_174), 0.001, accuracy: 1e-18)
        XCTAssertEqual(s(35_175), 0.0001, accuracy: 1e-19)
        XCTAssertEqual(s(46_899), 0.0001, accuracy: 1e-19)
    }

    /// CIFAR-10: 50,000 / 128 -> 391 steps; 200 epochs; x0.1 at 39,100 and 58,650.
    func testStepBoundaries() {
        let s = LearningRateSchedule(kind: .step, baseLearningRate: 0.1, numEpochs: 200, stepsPerEpoch: 391)
        XCTAssertEqual(s.boundaries, [39_100, 58_650])
        XCTAssertEqual(s(39_099), 0.1)
        XCTAssertEqual(s(39_100), 0.01, accuracy: 1e-17)
        XCTAssertEqual(s(58_649), 0.01, accuracy: 1e-17)
        XCTAssertEqual(s(58_650), 0.001, accuracy: 1e-18)
    }

    /// int() truncates: 3 epochs * 0.25 * 10 steps = 7.5 -> 7.
    func testBoundariesTruncateLikePythonInt() {
        XCTAssertEqual(LearningRateSchedule(kind: .stepMNIST, baseLearningRate: 1, numEpochs: 3, stepsPerEpoch: 10).boundaries, [7, 15, 22])
    }

    /// Boundaries that truncate to the same step decay once, as optax does with the
    /// original's dict literal {b1: 0.1, b2: 0.1}: 2 epochs of 1 step, `step` schedule,
    /// boundaries int(1.0) = int(1.5) = 1, so the rate at step 1 is 0.1 * 0.1 (not 0.1^3).
    func testCoincidingBoundariesDecayOnce() {
        let s = LearningRateSchedule(kind: .step, baseLearningRate: 0.1, numEpochs: 2, stepsPerEpoch: 1)
        XCTAssertEqual(s.boundaries, [1, 1])
        XCTAssertEqual(s(0), 0.1)
        XCTAssertEqual(s(1), 0.1 * 0.1, accuracy: 1e-18)
        let m = LearningRateSchedule(kind: .stepMNIST, baseLearningRate: 1, numEpochs: 2, stepsPerEpoch: 1)   // {0, 1, 1}
        XCTAssertEqual(m(0), 0.1, accuracy: 1e-17)
        XCTAssertEqual(m(1), 0.01, accuracy: 1e-17)
    }

    func testCosineWithWarmup() {
        let s = LearningRateSchedule(kind: .imagenetCosine, baseLearningRate: 0.2, numEpochs: 10, stepsPerEpoch: 100, warmupSteps: 100)
        XCTAssertEqual(s(0), 0)
        XCTAssertEqual(s(50), 0.1, accuracy: 1e-15)            // half-way up the warm-up
        XCTAssertEqual(s(100), 0.2, accuracy: 1e-15)           // peak
        XCTAssertEqual(s(550), 0.1, accuracy: 1e-15)           // half-way down: 0.2 * (1 + cos(pi/2)) / 2
        XCTAssertEqual(s(325), 0.2 * 0.5 * (1 + cos(Double.pi * 0.25)), accuracy: 1e-15)
        XCTAssertEqual(s(1000), 0, accuracy: 1e-17)
        XCTAssertEqual(s(5000), 0, accuracy: 1e-17)            // clipped after the end
        let noWarmup = LearningRateSchedule(kind: .imagenetCosine, baseLearningRate: 1, numEpochs: 1, stepsPerEpoch: 4)
        XCTAssertEqual(noWarmup(0), 1)
        XCTAssertEqual(noWarmup(2), 0.5, accuracy: 1e-15)
    }
}
