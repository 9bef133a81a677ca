#if CUDA
import RefSAMData
import RefSAMModels
import RefSAMTraining
import RefTensor

/// Evaluation on the device: `Model.evaluate` with the state where it lives.
extension CUDATrainer {
    /// `Model.evaluate` with each batch's logits from the device (the forward pass in
    /// evaluation mode: running statistics, no masks), scored as the CPU scores them.
    public func evaluate(pipeline: DataPipeline<T>, maxBatches: Int?) throws -> (loss: Double, accuracy: Double) {
        try model.evaluate(pipeline: pipeline, maxBatches: maxBatches) { try evaluationLogits($0) }
    }

    /// The logits of `images` under the current state, in evaluation mode, on the device.
    public func evaluationLogits(_ images: Tensor<T>) throws -> Tensor<T> {
        if evaluation[images.shape] == nil {
            let (tape, b, _) = try Self.record(model, template, copies: 1, batchShape: images.shape, train: false)
            let offsets = try Self.statisticsOffsets(b.batchNormPaths, paths: statPaths, offsets: statOffsets)
            let graph = try DeviceGraph<T>(device, nodes: tape.graph, leaves: paramOffsets.map { (copy: 0, offset: $0) },
                                           batchNormOffsets: offsets, maskOffsets: [:], backward: false)
            evaluation[images.shape] = (graph, try device.allocate(images.count * size))
        }
        let (graph, buffer) = evaluation[images.shape]!
        try images.scalars.withUnsafeBytes { try device.upload($0, to: buffer.pointer) }
        try graph.forward(params: [params], images: buffer.pointer, statistics: stats)
        let shape = graph.nodes[graph.logits].shape
        var z = [T](repeating: 0, count: shape.reduce(1, *))
        try z.withUnsafeMutableBytes { try device.download(graph.value(graph.logits), into: $0) }
        return Tensor(shape: shape, scalars: z)
    }
}
#endif
