import RefSAMModels
import RefSAMParams
import RefTensor

/// The step under `sam_shards = D` for a model whose BatchNorm statistics span the
/// shards (ResNet50: the original's BatchNorm has `axis_name='batch'`). It is the
/// original's D-device `jax.pmap` step, one shard per device:
///
///     pass(copies):  every shard d runs its own copy w_d of the parameters on its rows;
///                    BatchNorm statistics come from all rows; loss_d = mean CE of shard d;
///                    g_d = d(loss_1 + ... + loss_D) / d w_d
///     first pass:    w_d = p for every d                     -> g1_d, logits, batch_stats
///     SAM:           w_d = p + rho * g1_d / (||g1_d|| + 1e-12)  -> g_d (statistics discarded)
///     SGD:           g_d = g1_d
///     update:        momentum step with mean_d g_d (weight decay on p), as for one shard
///
/// g_d sums every shard's loss because under `pmap` the transpose of the statistics'
/// `pmean` is again a `pmean`: each device's gradient collects the cotangents that
/// flow back through the shared statistics from every device (jax 0.4: the gradient
/// of `psum(x)` inside `pmap` is D, not 1). The mean over shards of g1_d is then the
/// gradient of the whole batch's mean loss. Tested against `Fixtures/resnet50_*shards*`
/// (PyTorch, tools/make_fixtures_torch.py) and checked against Flax by
/// tools/check_shards_flax.py.
extension TrainStep {
    /// One pass over all shards at once, each with its copy of the parameters (and, for
    /// `ref-run diagnose`, every convolution's padding optionally replaced).
    package struct ShardedPass<T: RefScalar> {
        /// Mean CE of each shard's rows.
        package var losses: [T]
        /// [N, classes], shards in order.
        package var logits: Tensor<T>
        /// g_d, one tree per shard.
        package var grads: [TensorTree<T>]
        /// Running statistics updated with the shared batch statistics.
        package var batchStats: TensorTree<T>
        /// The shared batch mean and variance of each BatchNorm.
        package var batchMoments: TensorTree<T>
        /// The values each BatchNorm's moments were taken over (all shards' rows).
        package var batchCounts: [String: Int]
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func shardedPass<T: RefScalar>(_ model: Model, copies: [TensorTree<T>], batchStats: TensorTree<T>,
                                                  masks: [String: Mask<T>], images: Tensor<T>, labels: [Int32],
                                                  paddingOverride: Padding? = nil) throws -> ShardedPass<T> {
        let tape = Tape<T>()
        var vars: [[String: Variable]] = [], leaves: [Variable] = []
        for copy in copies {
            var v: [String: Variable] = [:]
            for e in copy.entries { let leaf = tape.leaf(e.tensor); v[e.path] = leaf; leaves.append(leaf) }
            vars.append(v)
        }
        let b = ModelBuilder<T>(tape: tape, mode: .applyPerShard(copies: vars, masks: masks), batchStats: batchStats, train: true)
        b.paddingOverride = paddingOverride
        let logits = try model.forward(b, tape.leaf(images))
        let per = labels.count / copies.count
        var losses: [Variable] = []
        for d in 0..<copies.count {
            let z = try tape.sliceBatch(logits, start: d * per, count: per)
            losses.append(try tape.softmaxCrossEntropy(logits: z, labels: Array(labels[(d * per)..<((d + 1) * per)])))
        }
        var total = losses[0]
        for l in losses.dropFirst() { total = try tape.add(total, l) }
        let grads = try tape.gradients(of: total, withRespectTo: leaves)
        let paths = copies[0].paths, k = paths.count
        return ShardedPass(losses: losses.map { tape[$0].scalar }, logits: tape[logits],
                           grads: (0..<copies.count).map { d in TensorTree(Array(Swift.zip(paths, grads[(d * k)..<((d + 1) * k)]))) },
                           batchStats: b.newBatchStats, batchMoments: b.batchMoments, batchCounts: b.batchCounts)
    }

    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func runWithSharedStatistics<T: RefScalar>(_ model: Model, state: inout TrainState<T>, images: Tensor<T>, labels: [Int32],
                                                      _ h: StepHyperparameters, record: StepRecord<T>? = nil) throws -> StepResult<T> {
        let shards = h.samShards, masks = state.masks
        let first = try shardedPass(model, copies: Array(repeating: state.params, count: shards), batchStats: state.batchStats,
                                    masks: masks, images: images, labels: labels)
        var used = first.grads
        for g in first.grads { record?.noteFirstPass(gradient: g, moments: first.batchMoments) }
        if h.optimizer == .sam {
            let noised = try first.grads.map { g in try perturb(state.params, along: g, rho: h.rho) }
            // The second pass's BatchNorm statistics are discarded.
            let second = try shardedPass(model, copies: noised, batchStats: state.batchStats, masks: masks,
                                         images: images, labels: labels)
            used = second.grads
            for n in noised { try record?.noteSecondPass(params: state.params, noised: n, moments: second.batchMoments) }
        }
        var samGradient = try average(used)
        used = []
        if h.optimizer == .sam { record?.samGradient = samGradient }
        let loss = first.losses.reduce(0, +) / T(shards), gradsFirst = try average(first.grads)
        try momentumUpdate(params: &state.params, trace: &state.trace, gradient: &samGradient, h)
        return result(&state, loss: loss, logits: first.logits, labels: labels, gradsFirst: gradsFirst, grads: samGradient,
                      batchStats: first.batchStats)
    }
}
