import RefSAMParams
import RefTensor

/// What a step computes on the way, kept when `TrainStep.run` is handed a record: the
/// quantities that tell apart bugs which fail the same outputs (a per-layer norm, weight
/// decay at the perturbed point, BatchNorm statistics from the wrong pass).
/// Per shard, in shard order (one entry without `sam_shards`).
public final class StepRecord<T: RefScalar> {
    /// ||g1||: the global norm of each shard's first-pass gradient.
    public internal(set) var gradientNorms: [Double] = []
    /// e = rho * g1 / (||g1|| + 1e-12), as the ascent point minus the parameters (SAM only).
    public internal(set) var perturbations: [TensorTree<T>] = []
    /// The gradient at the ascent point averaged over shards, before weight decay (SAM only).
    public internal(set) var samGradient: TensorTree<T>?
    /// Batch mean and variance of each BatchNorm in the first pass (kept in the running statistics).
    public internal(set) var firstPassMoments: [TensorTree<T>] = []
    /// The same in the second (perturbed) pass, whose statistics the step discards (SAM only).
    public internal(set) var secondPassMoments: [TensorTree<T>] = []

    /// An empty record, to hand to `TrainStep.run`.
    public init() {}

    func noteFirstPass(gradient: TensorTree<T>, moments: TensorTree<T>) {
        gradientNorms.append(TrainStep.globalNorm(gradient))
        firstPassMoments.append(moments)
    }

    func noteSecondPass(params: TensorTree<T>, noised: TensorTree<T>, moments: TensorTree<T>) throws {
        perturbations.append(try noised.zip(params, -))
        secondPassMoments.append(moments)
    }

    /// Everything recorded as named tensors, for a fixture's `intermediates/` folder:
    /// `grad_norm` [shards]; `perturbation/<path>`, `batch_moments_first/<bn>/mean|var`,
    /// `batch_moments_second/...`, prefixed `shard_<d>/` when there are several shards;
    /// `sam_grads/<path>`.
    public var tensors: [(name: String, tensor: Tensor<T>)] {
        var out: [(name: String, tensor: Tensor<T>)] = [("grad_norm", Tensor(shape: [gradientNorms.count], scalars: gradientNorms.map { T($0) }))]
        func add(_ prefix: String, _ trees: [TensorTree<T>]) {
            for (d, tree) in trees.enumerated() {
                let shard = trees.count > 1 ? "shard_\(d)/" : ""
                for (path, t) in tree.entries { out.append((shard + prefix + "/" + path, t)) }
            }
        }
        add("perturbation", perturbations)
        if let samGradient { add("sam_grads", [samGradient]) }
        add("batch_moments_first", firstPassMoments)
        add("batch_moments_second", secondPassMoments)
        return out
    }
}
