import RefSAMData
import RefSAMModels
import RefSAMParams
import RefTensor

extension Model {
    /// Mean loss and accuracy over `batches` of a pipeline, each weighted by its size.
    public func evaluate<T: RefScalar>(params: TensorTree<T>, batchStats: TensorTree<T>, pipeline: DataPipeline<T>,
                                       maxBatches: Int? = nil) throws -> (loss: Double, accuracy: Double) {
        try evaluate(pipeline: pipeline, maxBatches: maxBatches) { try logits(params: params, batchStats: batchStats, images: $0) }
    }

    /// The same with each batch's logits from `logits` (evaluation mode: running
    /// statistics, no masks), so another backend's forward pass is scored exactly as
    /// this one's (the CUDA backend evaluates on the device).
    public func evaluate<T: RefScalar>(pipeline: DataPipeline<T>, maxBatches: Int? = nil,
                                       logits: (Tensor<T>) throws -> Tensor<T>) throws -> (loss: Double, accuracy: Double) {
        let order = pipeline.order(epoch: 0)
        let n = min(pipeline.batchesPerEpoch, maxBatches ?? .max)
        var lossSum = 0.0, accSum = 0.0, count = 0
        for k in 0..<n {
            let (images, labels) = pipeline.batch(epoch: 0, index: k, order: order)
            let z = try logits(images)
            let loss = try CrossEntropyOp.forward(z, labels: labels).loss
            lossSum += Double(loss) * Double(labels.count)
            accSum += TrainStep.accuracy(z, labels) * Double(labels.count)
            count += labels.count
        }
        return (lossSum / Double(max(count, 1)), accSum / Double(max(count, 1)))
    }
}
