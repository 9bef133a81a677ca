/// Batch normalisation over every axis but the last (N, H, W for images), as Flax:
///
///     training:   mean = E[x], var = E[(x - mean)^2] (biased), computed from the batch
///     evaluation: mean, var = the running statistics
///     y = (x - mean) * (scale * 1/sqrt(var + eps)) + bias
///
/// Statistics are accumulated in Double over fixed row chunks summed in order
/// (accurate for Float, and deterministic for any thread count).
public enum BatchNormOp {
    public static let defaultEpsilon = 1e-5

    static func check<T: RefScalar>(_ x: Tensor<T>, _ scale: Tensor<T>, _ bias: Tensor<T>) throws -> (rows: Int, channels: Int) {
        guard x.rank >= 2 else {
            throw TensorError.invalidShape(op: "batchNorm", shape: x.shape, detail: "input needs a batch axis and a feature axis")
        }
        let c = x.shape[x.rank - 1]
        try scale.checkShape([c], op: "batchNorm", "scale (one per channel)")
        try bias.checkShape([c], op: "batchNorm", "bias (one per channel)")
        return (x.count / max(c, 1), c)
    }

    /// Training mode. Returns y and the batch mean and biased variance (for the running statistics).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forwardTraining<T: RefScalar>(_ x: Tensor<T>, scale: Tensor<T>, bias: Tensor<T>,
                                                     epsilon: Double = defaultEpsilon) throws
        -> (y: Tensor<T>, mean: Tensor<T>, variance: Tensor<T>, invStd: [Double]) {
        let (m, c) = try check(x, scale, bias)
        guard m > 0 else { throw TensorError.invalidShape(op: "batchNorm", shape: x.shape, detail: "empty batch") }
        let mean = channelSums(x, channels: c) { v, _ in Double(v) }.map { $0 / Double(m) }
        let meanT = mean.map { T($0) }
        let variance = channelSums(x, channels: c) { v, j in let d = Double(v - meanT[j]); return d * d }.map { $0 / Double(m) }
        let varT = variance.map { T($0) }
        let invStd = varT.map { 1 / (Double($0) + epsilon).squareRoot() }
        let y = normalize(x, mean: meanT, invStd: invStd, scale: scale, bias: bias)
        return (y, Tensor(shape: [c], scalars: meanT), Tensor(shape: [c], scalars: varT), invStd)
    }

    /// Evaluation mode with running statistics.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forwardInference<T: RefScalar>(_ x: Tensor<T>, scale: Tensor<T>, bias: Tensor<T>,
                                                      mean: Tensor<T>, variance: Tensor<T>,
                                                      epsilon: Double = defaultEpsilon) throws -> (y: Tensor<T>, invStd: [Double]) {
        let (_, c) = try check(x, scale, bias)
        try mean.checkShape([c], op: "batchNorm", "running mean")
        try variance.checkShape([c], op: "batchNorm", "running variance")
        let invStd = variance.scalars.map { 1 / (Double($0) + epsilon).squareRoot() }
        return (normalize(x, mean: mean.scalars, invStd: invStd, scale: scale, bias: bias), invStd)
    }

    /// Gradients of either mode. With xhat = (x - mean) * invStd:
    ///     dbias = sum dy,  dscale = sum dy * xhat
    ///     training:   dx = scale * invStd * (dy - dbias / M - xhat * dscale / M)
    ///     evaluation: dx = scale * invStd * dy
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func backward<T: RefScalar>(_ dy: Tensor<T>, x: Tensor<T>, scale: Tensor<T>, mean: Tensor<T>,
                                              invStd: [Double], training: Bool)
        -> (dx: Tensor<T>, dscale: Tensor<T>, dbias: Tensor<T>) {
        let c = scale.count, m = x.count / max(c, 1)
        let meanT = mean.scalars
        var dbias = [Double](repeating: 0, count: c), dscale = [Double](repeating: 0, count: c)
        x.scalars.withUnsafeBufferPointer { xp in dy.scalars.withUnsafeBufferPointer { dyp in
            for i in 0..<m {
                for j in 0..<c {
                    let g = Double(dyp[i * c + j])
                    dbias[j] += g
                    dscale[j] += g * Double(xp[i * c + j] - meanT[j]) * invStd[j]
                }
            }
        } }
        var dx = Tensor<T>.zeros(x.shape)
        let k = (0..<c).map { Double(scale.scalars[$0]) * invStd[$0] }
        x.scalars.withUnsafeBufferPointer { xp in dy.scalars.withUnsafeBufferPointer { dyp in
            dx.scalars.withUnsafeMutableBufferPointer { dxp in
                for i in 0..<m {
                    for j in 0..<c {
                        let g = Double(dyp[i * c + j])
                        if training {
                            let xhat = Double(xp[i * c + j] - meanT[j]) * invStd[j]
                            dxp[i * c + j] = T(k[j] * (g - dbias[j] / Double(m) - xhat * dscale[j] / Double(m)))
                        } else {
                            dxp[i * c + j] = T(k[j] * g)
                        }
                    }
                }
            }
        } }
        return (dx, Tensor(shape: [c], scalars: dscale.map { T($0) }), Tensor(shape: [c], scalars: dbias.map { T($0) }))
    }

    /// y = (x - mean) * (scale * invStd) + bias, rounded in T as Flax does.
    static func normalize<T: RefScalar>(_ x: Tensor<T>, mean: [T], invStd: [Double], scale: Tensor<T>, bias: Tensor<T>) -> Tensor<T> {
        let c = mean.count
        let mul = (0..<c).map { T(invStd[$0]) * scale.scalars[$0] }
        var y = Tensor<T>.zeros(x.shape)
        x.scalars.withUnsafeBufferPointer { xp in y.scalars.withUnsafeMutableBufferPointer { yp in
            bias.scalars.withUnsafeBufferPointer { bp in
                for i in 0..<(xp.count / max(c, 1)) {
                    for j in 0..<c { yp[i * c + j] = (xp[i * c + j] - mean[j]) * mul[j] + bp[j] }
                }
            }
        } }
        return y
    }

    /// Per-channel sum of f(x[i, j], j) over rows, in Double: fixed chunks of rows
    /// summed in parallel, then the chunk sums added in order.
    static func channelSums<T: RefScalar>(_ x: Tensor<T>, channels c: Int, _ f: (T, Int) -> Double) -> [Double] {
        let m = x.count / max(c, 1)
        let chunk = 1024
        let chunks = max(1, (m + chunk - 1) / chunk)
        var partial = [Double](repeating: 0, count: chunks * c)
        x.scalars.withUnsafeBufferPointer { xp in partial.withUnsafeMutableBufferPointer { pp in
            let pbase = pp.baseAddress!
            Threads.parallelFor(chunks) { t, _ in
                let acc = pbase + t * c
                for i in (t * chunk)..<min(m, (t + 1) * chunk) {
                    for j in 0..<c { acc[j] += f(xp[i * c + j], j) }
                }
            }
        } }
        var total = [Double](repeating: 0, count: c)
        for t in 0..<chunks { for j in 0..<c { total[j] += partial[t * c + j] } }
        return total
    }
}
