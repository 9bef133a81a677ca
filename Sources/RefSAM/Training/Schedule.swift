import Foundation
import RefSAMConfig

/// The learning-rate schedules of the original (`config.lr_scheduler`).
///
/// Boundaries are int(num_epochs * fraction * steps_per_epoch), steps_per_epoch =
/// ceil(train examples / batch size). As optax's `piecewise_constant_schedule`, a
/// boundary's x0.1 applies from the update whose 0-based count equals it.
public struct LearningRateSchedule: Equatable, Sendable {
    /// Which schedule.
    public var kind: ScheduleKind
    /// The rate before any decay.
    public var baseLearningRate: Double
    /// Training length in epochs (sets the boundaries).
    public var numEpochs: Int
    /// Updates per epoch.
    public var stepsPerEpoch: Int
    /// Warm-up steps (imagenet_cosine only).
    public var warmupSteps: Int

    /// A schedule of `kind` for `numEpochs` epochs of `stepsPerEpoch` updates.
    public init(kind: ScheduleKind, baseLearningRate: Double, numEpochs: Int, stepsPerEpoch: Int, warmupSteps: Int = 0) {
        self.kind = kind; self.baseLearningRate = baseLearningRate; self.numEpochs = numEpochs
        self.stepsPerEpoch = stepsPerEpoch; self.warmupSteps = warmupSteps
    }

    /// ceil(examples / batchSize).
    public static func stepsPerEpoch(examples: Int, batchSize: Int) -> Int { (examples + batchSize - 1) / batchSize }

    /// The update counts at which the rate is multiplied by 0.1 (step schedules).
    public var boundaries: [Int] {
        let fractions: [Double]
        switch kind {
        case .step: fractions = [0.5, 0.75]
        case .stepMNIST: fractions = [0.25, 0.5, 0.75]
        case .imagenetCosine: return []
        }
        // Python: int(config.num_epochs * fraction * steps_per_epoch), left to right in floats.
        return fractions.map { Int((Double(numEpochs) * $0 * Double(stepsPerEpoch)).rounded(.towardZero)) }
    }

    /// numEpochs * stepsPerEpoch.
    public var totalSteps: Int { numEpochs * stepsPerEpoch }

    /// The rate of the update with 0-based count `count`.
    public func callAsFunction(_ count: Int) -> Double {
        switch kind {
        case .step, .stepMNIST:
            // The original passes the boundaries to optax as a dict literal, so boundaries
            // that truncate to the same step are one key: the rate decays once there.
            var v = baseLearningRate
            for b in Set(boundaries) where count >= b { v *= 0.1 }
            return v
        case .imagenetCosine:
            let w = Double(warmupSteps)
            let span = Double(totalSteps - warmupSteps)
            var progress = span > 0 ? (Double(count) - w) / span : (Double(count) >= w ? 1 : 0)
            progress = min(max(progress, 0), 1)
            var lr = baseLearningRate * 0.5 * (1 + cos(Double.pi * progress))
            if warmupSteps > 0 { lr *= min(1, Double(count) / w) }
            return lr
        }
    }
}
