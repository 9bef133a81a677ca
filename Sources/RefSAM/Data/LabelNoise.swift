import RefTensor

/// Symmetric label noise (`config.label_noise`): int(fraction * n) training labels,
/// chosen from the seed, each replaced by a uniformly drawn *different* class.
/// Test labels are never passed here.
public enum LabelNoise {
    /// Returns the noisy labels and the (sorted) indices that were changed.
    public static func apply(_ labels: [Int32], fraction: Double, numClasses: Int, seed: UInt64) throws
        -> (labels: [Int32], changed: [Int]) {
        guard fraction >= 0 && fraction <= 1 else {
            throw DataError.unusable("label_noise \(fraction) is outside [0, 1]")
        }
        guard numClasses >= 2 || fraction == 0 else {
            throw DataError.unusable("label noise needs at least 2 classes")
        }
        let count = Int((fraction * Double(labels.count)).rounded(.towardZero))
        if count == 0 { return (labels, []) }
        var rng = RandomGenerator(seed: seed).derived("label_noise")
        let chosen = rng.permutation(labels.count).prefix(count).sorted()
        var out = labels
        for i in chosen {
            let shift = 1 + rng.uniform(below: numClasses - 1)
            out[i] = Int32((Int(labels[i]) + shift) % numClasses)
        }
        return (out, chosen)
    }
}
