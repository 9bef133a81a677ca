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
}
