import RefSAMData
import RefTensor

/// Where a run's batches come from when no training loop drives them: the dataset's
/// training pipeline, or seeded random images of the dataset's shape (so golden
/// fixtures and benchmarks need no data).
public struct BatchSource<T: RefScalar> {
    /// Batches in one epoch (1 for synthetic batches).
    public let stepsPerEpoch: Int
    /// Classes labels range over.
    public let numClasses: Int
    let make: (Int) throws -> (Tensor<T>, [Int32])

    /// Batch `k` of epoch 0.
    public func batch(_ k: Int) throws -> (images: Tensor<T>, labels: [Int32]) { try make(k) }

    /// Seeded standard-normal images of the spec's image shape, with uniform labels.
    public static func synthetic(_ spec: RunSpec) -> BatchSource {
        let classes = spec.model.numClasses, shape = spec.imageShape
        let seed = spec.seed, n = spec.batchSize
        return BatchSource(stepsPerEpoch: 1, numClasses: classes) { k in
            var rng = RandomGenerator(seed: seed).derived("synthetic").derived(UInt64(k))
            let images: Tensor<T> = rng.normalTensor([n] + shape)
            return (images, (0..<n).map { _ in Int32(rng.uniform(below: classes)) })
        }
    }

    /// The first batches of the run's training pipeline, label noise included.
    public static func dataset(_ spec: RunSpec) throws -> BatchSource {
        let (pipeline, _) = try spec.trainPipeline(spec.loadData(.train), T.self)
        let order = pipeline.order(epoch: 0)
        return BatchSource(stepsPerEpoch: pipeline.batchesPerEpoch, numClasses: pipeline.dataset.numClasses) { k in
            guard k < pipeline.batchesPerEpoch else {
                throw RunError.invalidRequest("batch \(k) is past the end of epoch 0 (\(pipeline.batchesPerEpoch) batches)")
            }
            let b = pipeline.batch(epoch: 0, index: k, order: order)
            return (b.images, b.labels)
        }
    }
}
