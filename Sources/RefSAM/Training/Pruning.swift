import RefSAMConfig
import RefSAMModels
import RefSAMParams
import RefTensor

/// Pruning at initialisation (`config.pruner`, `config.sparsity`), as the original's pruner.py.
///
/// Only kernels are pruned. Rule: keep the weights whose score is *strictly greater*
/// than the score at sorted index int(sparsity * n) (ascending sort; the index is
/// clamped to n - 1 as JAX clamps it, so sparsity 1 prunes every kernel weight).
/// Consequence, reproduced on purpose: even at sparsity 0 the lowest-scoring weight
/// is pruned — one per layer for `random` (per-layer thresholds), one in the whole
/// model for `snip` and `magnitude` (a global threshold). Ties at the threshold are
/// all pruned.
public enum Pruning {
    /// Whether `path` names a kernel (the only parameters pruning touches).
    public static func isKernel(_ path: String) -> Bool { path.hasSuffix("/kernel") || path == "kernel" }

    /// The index of the threshold in an ascending list of n scores.
    public static func thresholdIndex(sparsity: Double, count n: Int) -> Int {
        min(Int((sparsity * Double(n)).rounded(.towardZero)), n - 1)
    }

    /// Scores of every kernel (other parameters get none).
    public static func scores<T: RefScalar>(_ pruner: Pruner, model: Model, params: TensorTree<T>, batchStats: TensorTree<T>,
                                            seed: UInt64, images: Tensor<T>?, labels: [Int32]?) throws -> TensorTree<T> {
        switch pruner {
        case .random:
            let root = RandomGenerator(seed: seed).derived("pruning/random")
            var out = TensorTree<T>()
            for (p, t) in params.entries where isKernel(p) {
                var rng = root.derived(p)
                out[p] = rng.normalTensor(t.shape)
            }
            return out
        case .magnitude:
            var out = TensorTree<T>()
            for (p, t) in params.entries where isKernel(p) { out[p] = Tensor(shape: t.shape, scalars: t.scalars.map { abs($0) }) }
            return out
        case .snip:
            guard let images, let labels else {
                throw TrainingError.snipNeedsBatch
            }
            let g = try TrainStep.pass(model, params: params, batchStats: batchStats, mask: nil, images: images, labels: labels).grads
            var out = TensorTree<T>()
            for (p, t) in params.entries where isKernel(p) {
                let gp = try g.require(p, in: "snip gradients")
                out[p] = Tensor(shape: t.shape, scalars: zip(t.scalars, gp.scalars).map { abs($0 * $1) })
            }
            return out
        }
    }

    /// `values.sorted()[k]`, found without sorting: quickselect with a three-way partition
    /// (so runs of equal scores cost nothing extra), median-of-three pivots, and a sort of
    /// what is left after 64 rounds, which bounds the worst case at O(n log n). The value
    /// is the same whatever the algorithm, so masks are unchanged; sorting every kernel's
    /// scores was 7% of an MNIST epoch's process under perf.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func kthSmallest<T: Comparable>(_ values: [T], _ k: Int) -> T {
        precondition(k >= 0 && k < values.count, "k \(k) outside 0..<\(values.count)")
        var a = values, lo = 0, hi = a.count
        for _ in 0..<64 where hi - lo > 16 {
            let (x, y, z) = (a[lo], a[lo + (hi - lo) / 2], a[hi - 1])
            let pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y))
            var lt = lo, i = lo, gt = hi          // [lo, lt) < pivot, [lt, gt) == pivot, [gt, hi) > pivot
            while i < gt {
                if a[i] < pivot { a.swapAt(lt, i); lt += 1; i += 1 } else if pivot < a[i] { gt -= 1; a.swapAt(i, gt) } else { i += 1 }
            }
            if k < lt { hi = lt } else if k < gt { return pivot } else { lo = gt }
        }
        return a[lo..<hi].sorted()[k - lo]
    }

    /// The 0/1 mask for every parameter (ones for everything but kernels).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func mask<T: RefScalar>(params: TensorTree<T>, scores: TensorTree<T>, sparsity: Double, pruner: Pruner) throws -> TensorTree<T> {
        guard sparsity >= 0 && sparsity <= 1 else {
            throw TrainingError.sparsityOutOfRange(sparsity)
        }
        let kernels = params.paths.filter(isKernel)
        var thresholds: [String: T] = [:]
        if pruner == .random {
            for p in kernels {
                let s = try scores.require(p, in: "scores").scalars
                if !s.isEmpty { thresholds[p] = kthSmallest(s, thresholdIndex(sparsity: sparsity, count: s.count)) }
            }
        } else {
            let all = try kernels.flatMap { try scores.require($0, in: "scores").scalars }
            if !all.isEmpty {
                let t = kthSmallest(all, thresholdIndex(sparsity: sparsity, count: all.count))
                for p in kernels { thresholds[p] = t }
            }
        }
        return try params.map { p, t in
            guard isKernel(p), let thr = thresholds[p] else { return Tensor.ones(t.shape) }
            let s = try scores.require(p, in: "scores")
            return Tensor(shape: t.shape, scalars: s.scalars.map { $0 > thr ? 1 : 0 })
        }
    }
}
