import Foundation
import RefSAMConfig
import RefSAMRun
import RefSAMTraining
import RefTensor

/// `ref-run golden`: K consecutive one-step fixtures of this reference, from the
/// config's model, seeded initialisation, pruning mask and first training batches
/// (or seeded synthetic images of the dataset's shape).
public enum Golden {
    /// Writes OUT/step_000 ... and returns (directory, loss) per step.
    @discardableResult
    /// With `mask: false` no pruning mask is made (no `mask/` inputs, parameters as
    /// initialised): for backends without pruning. By default the mask follows the
    /// original's rule, which prunes one weight per kernel even at sparsity 0.
    /// `step` takes each step (this reference's `TrainStep.run` unless another backend's).
    public static func write<T: RefScalar>(_: T.Type, spec: RunSpec, steps: Int, synthetic: Bool, out: String,
                                           producer: String, mask: Bool = true, step: StepFunction<T>? = nil) throws -> [(String, Double)] {
        let model = spec.model
        let source: BatchSource<T> = synthetic ? .synthetic(spec) : try .dataset(spec)
        var state = try spec.initialState(T.self, from: mask ? .fresh : .unpruned) { try source.batch(0) }
        let schedule = spec.schedule(stepsPerEpoch: source.stepsPerEpoch)
        var written: [(String, Double)] = []
        for k in 0..<steps {
            let (images, labels) = try source.batch(k)
            let h = spec.hyperparameters(learningRate: schedule(k), batchCount: labels.count)
            let r = try step.map { try $0(model, state, images, labels, h) }
                ?? TrainStep.run(model, state: state, images: images, labels: labels, h)
            let dir = (out as NSString).appendingPathComponent(String(format: "step_%03d", k))
            try FixtureWriter.write(to: dir, model: model, step: h, state: state, images: images, labels: labels, result: r,
                                    producer: producer + " (\(synthetic ? "synthetic" : spec.dataset.rawValue) batch \(k), seed \(spec.seed))")
            written.append((dir, Double(r.loss)))
            state = r.state
        }
        return written
    }
}
