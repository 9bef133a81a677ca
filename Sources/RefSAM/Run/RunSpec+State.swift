import Foundation
import RefSAMCheckpoint
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// Where a run's first state comes from.
public enum StateOrigin: Sendable {
    /// Step 0: seeded initialisation, then the pruning mask.
    case fresh
    /// Step 0 without pruning: the seeded initialisation, no mask (for backends
    /// without pruning; the original's rule prunes one weight per kernel even at sparsity 0).
    case unpruned
    /// A checkpoint file (this reference's or the original's), checked against the model.
    case checkpoint(String)
}

extension RunSpec {
    /// Copies of the parameters a SAM step holds at once (parameters, momentum, the two
    /// gradients, the ascent point, the new parameters and trace, the mask).
    static let parameterCopiesPerStep = 8

    /// Throws `RunError.tooLarge` when the parameters, times the copies a step holds,
    /// plus two copies of one batch of images, would not fit in physical memory: a lower
    /// bound on what a step needs, checked before anything is allocated.
    public func checkSize<T: RefScalar>(_: T.Type) throws {
        let available = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let count = model.parameterCountWithoutAllocating(imageShape: imageShape)
        let parameterBytes = count.flatMap { ElementCount.of([$0, Self.parameterCopiesPerStep], times: MemoryLayout<T>.size) }
        let batchBytes = ElementCount.of([batchSize, 2] + imageShape, times: MemoryLayout<T>.size)
        var bytes: Int? = nil
        if let p = parameterBytes, let b = batchBytes, case let (sum, false) = p.addingReportingOverflow(b) { bytes = sum }
        guard let bytes, bytes <= available else {
            throw RunError.tooLarge(model: "\(model)", parameters: count, bytesNeeded: bytes, bytesAvailable: available)
        }
    }

    /// The state a run starts from.
    ///
    /// - `.fresh`: parameters from the seed, then the pruning mask (SNIP scores
    ///   `firstBatch()`, which is called only then and must be given then), and the
    ///   parameters multiplied by it, as the original does.
    /// - `.unpruned`: parameters from the seed, no mask.
    /// - `.checkpoint(path)`: the file's state, its trees put in the model's order after
    ///   checking every path and shape (a checkpoint of another model is refused, naming
    ///   the first difference).
    public func initialState<T: RefScalar>(_: T.Type, from origin: StateOrigin,
                                           firstBatch: (() throws -> (images: Tensor<T>, labels: [Int32]))? = nil) throws -> TrainState<T> {
        try checkSize(T.self)
        let (params, stats) = try model.initialize(seed: seed, imageShape: imageShape, T.self)
        switch origin {
        case .unpruned:
            return TrainState(params: params, batchStats: stats)
        case .fresh:
            var batch: (images: Tensor<T>, labels: [Int32])? = nil
            if pruner == .snip, let firstBatch { batch = try firstBatch() }
            let scores = try Pruning.scores(pruner, model: model, params: params, batchStats: stats, seed: seed,
                                            images: batch?.images, labels: batch?.labels)
            let mask = try Pruning.mask(params: params, scores: scores, sparsity: sparsity, pruner: pruner)
            return TrainState(params: try params.zip(mask, *), batchStats: stats, mask: mask)
        case .checkpoint(let path):
            return try Checkpoint.load(path, T.self).aligned(params: params, batchStats: stats, source: path)
        }
    }
}
