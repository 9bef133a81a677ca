/// Batch normalisation whose statistics span every shard of the batch while each
/// shard keeps its own scale and bias: what Flax's `nn.BatchNorm(axis_name='batch')`
/// computes under `jax.pmap` when every device holds its own copy of the parameters
/// (SAM perturbs each copy differently). The M rows split into D equal shards; row i
/// belongs to shard d(i):
///
///     mean, var = E[x], E[(x - mean)^2] over all M rows   (pmean of the shards' moments)
///     y_i = (x_i - mean) * (scale_d(i) * invStd) + bias_d(i)
///
/// Gradients, with xhat = (x - mean) * invStd and sums over the rows of shard d:
///
///     dbias_d = sum_d dy,  dscale_d = sum_d dy * xhat
///     dx_i = invStd * (scale_d(i) dy_i - A / M - xhat_i * B / M)
///     A = sum_d scale_d * dbias_d,  B = sum_d scale_d * dscale_d
///
/// (the usual rule written in dxhat = dy * scale, which now varies by shard). With one
/// shard this is `forwardTraining`/`backward` up to the order of roundings; the model
/// uses those for one shard, so nothing changes there.
extension BatchNormOp {
    static func checkShards<T: RefScalar>(_ x: Tensor<T>, _ scales: [Tensor<T>], _ biases: [Tensor<T>]) throws
        -> (rows: Int, channels: Int) {
        guard !scales.isEmpty, scales.count == biases.count else {
            throw TensorError.invalidArgument(op: "shardedBatchNorm",
                                              detail: "needs one scale and one bias per shard, got \(scales.count) and \(biases.count)")
        }
        for (s, b) in zip(scales, biases) { _ = try check(x, s, b) }
        let (m, c) = try check(x, scales[0], biases[0])
        guard m % scales.count == 0 else {
            throw TensorError.invalidShape(op: "shardedBatchNorm", shape: x.shape,
                                           detail: "\(m) rows do not split into \(scales.count) equal shards")
        }
        return (m, c)
    }

    /// Training mode over shards. Returns y and the shared batch mean and biased variance.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forwardTraining<T: RefScalar>(_ x: Tensor<T>, scales: [Tensor<T>], biases: [Tensor<T>],
                                                     epsilon: Double = defaultEpsilon) throws
        -> (y: Tensor<T>, mean: Tensor<T>, variance: Tensor<T>, invStd: [Double]) {
        let (m, c) = try checkShards(x, scales, biases)
        let (mean, variance, invStd) = try statistics(x, rows: m, channels: c, epsilon: epsilon)
        let per = m / scales.count
        var y = Tensor<T>.zeros(x.shape)
        y.withUnsafeMutableScalars { yp in
            x.scalars.withUnsafeBufferPointer { xp in
                for d in 0..<scales.count {
                    let mul = (0..<c).map { T(invStd[$0]) * scales[d].scalars[$0] }, add = biases[d].scalars
                    for i in (d * per)..<((d + 1) * per) {
                        for j in 0..<c { yp[i * c + j] = (xp[i * c + j] - mean[j]) * mul[j] + add[j] }
                    }
                }
            }
        }
        return (y, Tensor(shape: [c], scalars: mean), Tensor(shape: [c], scalars: variance), invStd)
    }

    /// Gradients of the sharded training mode: dx, and dscale, dbias per shard.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func backward<T: RefScalar>(_ dy: Tensor<T>, x: Tensor<T>, scales: [Tensor<T>], mean: Tensor<T>,
                                              invStd: [Double]) -> (dx: Tensor<T>, dscales: [Tensor<T>], dbiases: [Tensor<T>]) {
        let shards = scales.count, c = mean.count, m = x.count / max(c, 1), per = m / shards
        // Per shard: [dbias_0..<c, dscale_0..<c], in Double, summed in row order.
        var dbias = [[Double]](repeating: [Double](repeating: 0, count: c), count: shards)
        var dscale = dbias
        var xhat = [Double](repeating: 0, count: x.count)
        for i in 0..<m {
            let d = i / per
            for j in 0..<c {
                let g = Double(dy.scalars[i * c + j])
                let h = Double(x.scalars[i * c + j] - mean.scalars[j]) * invStd[j]
                xhat[i * c + j] = h
                dbias[d][j] += g
                dscale[d][j] += g * h
            }
        }
        if let noise = SummationNoise.current {
            for d in 0..<shards {
                let rows = (d * per)..<((d + 1) * per)
                noise.addError(to: &dbias[d], rows: rows) { i, j in Double(dy.scalars[i * c + j]) }
                noise.addError(to: &dscale[d], rows: rows) { i, j in Double(dy.scalars[i * c + j]) * xhat[i * c + j] }
            }
        }
        var a = [Double](repeating: 0, count: c), b = a
        for d in 0..<shards {
            for j in 0..<c {
                a[j] += Double(scales[d].scalars[j]) * dbias[d][j]
                b[j] += Double(scales[d].scalars[j]) * dscale[d][j]
            }
        }
        let dx = Tensor<T>(shape: x.shape, scalars: (0..<x.count).map { k in
            let i = k / c, j = k % c
            let dxhat = Double(scales[i / per].scalars[j]) * Double(dy.scalars[k])
            return T(invStd[j] * (dxhat - a[j] / Double(m) - xhat[k] * b[j] / Double(m)))
        })
        return (dx, dscale.map { Tensor(shape: [c], scalars: $0.map { T($0) }) },
                dbias.map { Tensor(shape: [c], scalars: $0.map { T($0) }) })
    }
}
