/// A training step, pruning or schedule cannot run with what it was given.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// `sam_shards` does not divide the batch into equal non-empty shards.
    case shardsDoNotDivide(batch: Int, shards: Int)
    /// The batch has a different number of labels than of images.
    case labelCount(images: Int, labels: Int)
    /// Pruning was asked for a sparsity outside [0, 1].
    case sparsityOutOfRange(Double)
    /// SNIP scores need a training batch and none was given.
    case snipNeedsBatch

    /// One line naming the step part and the problem.
    public var description: String {
        switch self {
        case let .shardsDoNotDivide(batch, shards): return "train step: batch of \(batch) cannot be split into \(shards) equal shards"
        case let .labelCount(images, labels): return "train step: \(labels) labels for a batch of \(images) images"
        case let .sparsityOutOfRange(s): return "pruning: sparsity \(s) is outside [0, 1]"
        case .snipNeedsBatch: return "snip: snip needs a training batch"
        }
    }
}
