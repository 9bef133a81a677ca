/// One epoch's numbers, as written to metrics.jsonl.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int            // 1-based, as the logs print it
    public var step: Int             // updates applied so far
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var testLoss: Double
    public var testAccuracy: Double
    public var learningRate: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, step, seconds
        case trainLoss = "train_loss", trainAccuracy = "train_accuracy", testLoss = "test_loss"
        case testAccuracy = "test_accuracy", learningRate = "learning_rate"
    }
}
