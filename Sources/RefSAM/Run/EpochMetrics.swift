import Foundation

/// One epoch's numbers, as written to metrics.jsonl.
public struct EpochMetrics: Codable, Equatable, Sendable {
    /// The epoch, 1-based as the logs print it.
    public var epoch: Int
    /// Updates applied so far.
    public var step: Int
    /// Mean first-pass loss over the epoch's examples.
    public var trainLoss: Double
    /// Mean first-pass accuracy over the epoch's examples.
    public var trainAccuracy: Double
    /// Mean loss on the test set (or its first `steps_per_eval` batches).
    public var testLoss: Double
    /// Accuracy on the same test examples.
    public var testAccuracy: Double
    /// The rate at the epoch's first update, as the original logs it.
    public var learningRate: Double
    /// Wall-clock seconds of the epoch's updates (evaluation excluded).
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss"
        case testAccuracy = "test_accuracy", learningRate = "learning_rate"
    }

    /// Metrics of one epoch.
    public init(epoch: Int, step: Int, trainLoss: Double, trainAccuracy: Double, testLoss: Double, testAccuracy: Double,
                learningRate: Double, seconds: Double) {
        self.epoch = epoch; self.step = step; self.trainLoss = trainLoss; self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss; self.testAccuracy = testAccuracy; self.learningRate = learningRate; self.seconds = seconds
    }

    /// Every line of the metrics.jsonl at `path` (empty when there is no file; a line that
    /// does not decode is skipped).
    public static func readLines(of path: String) -> [EpochMetrics] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
    }

    /// Reads a metrics.jsonl line; `null` (a NaN or infinite value when written) reads as NaN.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ k: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: k) ?? .nan }
        self.init(epoch: try c.decode(Int.self, forKey: .epoch), step: try c.decode(Int.self, forKey: .step),
                  trainLoss: try number(.trainLoss), trainAccuracy: try number(.trainAccuracy), testLoss: try number(.testLoss),
                  testAccuracy: try number(.testAccuracy), learningRate: try number(.learningRate), seconds: try number(.seconds))
    }

    /// Writes the metrics as JSON; a NaN or infinite value is written as `null` (JSON has no NaN).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func put(_ v: Double, _ k: CodingKeys) throws { if v.isFinite { try c.encode(v, forKey: k) } else { try c.encodeNil(forKey: k) } }
        try c.encode(epoch, forKey: .epoch); try c.encode(step, forKey: .step)
        try put(trainLoss, .trainLoss); try put(trainAccuracy, .trainAccuracy); try put(testLoss, .testLoss)
        try put(testAccuracy, .testAccuracy); try put(learningRate, .learningRate); try put(seconds, .seconds)
    }
}
