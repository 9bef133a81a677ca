#if CUDA
import RefSAMData
import RefSAMModels
import RefSAMTraining
import RefTensor

/// Evaluation on the device: `Model.evaluate` with the state where it lives.
extension CUDATrainer {
    /// `Model.evaluate` on the device: the forward pass in evaluation mode (running
    /// statistics, no masks) on each batch, its logits copied back, and the loss and
    /// accuracy taken as the CPU takes them (`CrossEntropyOp.forward`, `TrainStep.accuracy`).
    public func evaluate(pipeline: DataPipeline<T>, maxBatches: Int?) throws -> (loss: Double, accuracy: Double) {
        let order = pipeline.order(epoch: 0)
        let n = min(pipeline.batchesPerEpoch, maxBatches ?? .max)
        var lossSum = 0.0, accSum = 0.0, count = 0
        for k in 0..<n {
            let (images, labels) = pipeline.batch(epoch: 0, index: k, order: order)
            let z = try evaluationLogits(images)
            let loss = try CrossEntropyOp.forward(z, labels: labels).loss
            lossSum += Double(loss) * Double(labels.count)
            accSum += TrainStep.accuracy(z, labels) * Double(labels.count)
            count += labels.count
        }
        return (lossSum / Double(max(count, 1)), accSum / Double(max(count, 1)))
    }

    /// The logits of `images` under the current state, in evaluation mode, on the device.
    public func evaluationLogits(_ images: Tensor<T>) throws -> Tensor<T> {
        if evaluation[images.shape] == nil {
            // The forward pass in evaluation mode, recorded on the CPU on zeros.
            let tape = Tape<T>()
            var vars: [String: Variable] = [:]
            for e in template.params.entries { vars[e.path] = tape.leaf(e.tensor) }
            let b = ModelBuilder<T>(tape: tape, mode: .apply(params: vars, masks: [:]), batchStats: template.batchStats, train: false)
            _ = try model.forward(b, tape.leaf(.zeros(images.shape)))
            let statIndex = Dictionary(uniqueKeysWithValues: statPaths.enumerated().map { ($1, $0) })
            let offsets = try b.batchNormPaths.map { path -> (mean: Int, variance: Int) in
                guard let m = statIndex[path + "/mean"], let v = statIndex[path + "/var"] else {
                    throw CUDAError.unsupported("batch_stats has no \(path)/mean or \(path)/var")
                }
                return (statOffsets[m], statOffsets[v])
            }
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
