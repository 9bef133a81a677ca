/// Batch normalisation over every axis but the last (N, H, W for images), as Flax:
///
///     training:   mean = E[x], var = E[(x - mean)^2] (biased), computed from the batch
///     evaluation: mean, var = the running statistics
///     y = (x - mean) * (scale * 1/sqrt(var + eps)) + bias
///
/// Statistics are accumulated in Double over fixed row chunks summed in order
/// (accurate for Float, and deterministic for any thread count).
public enum BatchNormOp {
    /// Flax's `nn.BatchNorm` epsilon.
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
        let (meanT, varT, invStd) = try statistics(x, rows: m, channels: c, epsilon: epsilon)
        let y = normalize(x, mean: meanT, invStd: invStd, scale: scale, bias: bias)
        return (y, Tensor(shape: [c], scalars: meanT), Tensor(shape: [c], scalars: varT), invStd)
    }

    /// The batch mean and biased variance of each channel (rounded to T, as returned),
    /// and 1 / sqrt(var + eps) from the rounded variance. Two passes, in Double.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func statistics<T: RefScalar>(_ x: Tensor<T>, rows m: Int, channels c: Int, epsilon: Double) throws
        -> (mean: [T], variance: [T], invStd: [Double]) {
        guard m > 0 else { throw TensorError.invalidShape(op: "batchNorm", shape: x.shape, detail: "empty batch") }
        let noise = SummationNoise.current
        var mean = x.scalars.withUnsafeBufferPointer { xp in
            let xp = xp.baseAddress!
            return channelSums(rows: m, channels: c) { rows, acc in
                forEachTile(rows, channels: c, block: { tile, j0 in
                    var s = lanes(acc + j0)
                    for i in tile { s += widened(lanes(xp + (i &* c &+ j0))) }
                    storeLanes(s, acc + j0)
                }, single: { tile, j in
                    for i in tile { acc[j] += Double(xp[i &* c &+ j]) }
                })
            }
        }.map { $0 / Double(m) }
        // Float32 summation error (see SummationNoise): of sum x for the mean, and of
        // sum x^2 for the variance, as a one-pass E[x^2] - E[x]^2 (Flax's formula) has it;
        // where the variance is small beside mean^2 that error dominates.
        let xs = x.scalars
        noise?.addError(to: &mean, rows: 0..<m, scale: 1 / Double(m)) { i, j in Double(xs[i * c + j]) }
        let meanT = mean.map { T($0) }
        var variance = x.scalars.withUnsafeBufferPointer { xp in meanT.withUnsafeBufferPointer { mp in
            let (xp, mp) = (xp.baseAddress!, mp.baseAddress!)
            return channelSums(rows: m, channels: c) { rows, acc in
                forEachTile(rows, channels: c, block: { tile, j0 in
                    var s = lanes(acc + j0)
                    let mv = lanes(mp + j0)
                    for i in tile { let d = widened(lanes(xp + (i &* c &+ j0)) - mv); s += d * d }
                    storeLanes(s, acc + j0)
                }, single: { tile, j in
                    for i in tile { let d = Double(xp[i &* c &+ j] - mp[j]); acc[j] += d * d }
                })
            }
        } }.map { $0 / Double(m) }
        if let noise {
            noise.addError(to: &variance, rows: 0..<m, scale: 1 / Double(m)) { i, j in Double(xs[i * c + j]) * Double(xs[i * c + j]) }
            variance = variance.map { max($0, 0) }
        }
        let varT = variance.map { T($0) }
        return (meanT, varT, varT.map { 1 / (Double($0) + epsilon).squareRoot() })
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
        // dbias and dscale side by side: [dbias_0..<c, dscale_0..<c].
        let sums = Tensor.withScalars(of: [x, dy, mean]) { b in invStd.withUnsafeBufferPointer { sp in
            let (xp, dyp, mp, sp) = (b[0].baseAddress!, b[1].baseAddress!, b[2].baseAddress!, sp.baseAddress!)
            return channelSums(rows: m, channels: 2 * c) { rows, acc in
                forEachTile(rows, channels: c, block: { tile, j0 in
                    var sb = lanes(acc + j0), ss = lanes(acc + (c &+ j0))
                    let mv = lanes(mp + j0), iv = lanes(sp + j0)
                    for i in tile {
                        let g = widened(lanes(dyp + (i &* c &+ j0)))
                        sb += g
                        ss += g * widened(lanes(xp + (i &* c &+ j0)) - mv) * iv
                    }
                    storeLanes(sb, acc + j0); storeLanes(ss, acc + (c &+ j0))
                }, single: { tile, j in
                    for i in tile {
                        let g = Double(dyp[i &* c &+ j])
                        acc[j] += g
                        acc[c &+ j] += g * Double(xp[i &* c &+ j] - mp[j]) * sp[j]
                    }
                })
            }
        } }
        var dbias = Array(sums[0..<c]), dscale = Array(sums[c...])
        if let noise = SummationNoise.current {
            let (xs, gs, ms) = (x.scalars, dy.scalars, mean.scalars)
            noise.addError(to: &dbias, rows: 0..<m) { i, j in Double(gs[i * c + j]) }
            noise.addError(to: &dscale, rows: 0..<m) { i, j in Double(gs[i * c + j]) * Double(xs[i * c + j] - ms[j]) * invStd[j] }
        }
        // Per channel, side by side in one buffer (no array bounds checks in the loop):
        // k = scale * invStd, dbias / M, dscale. The roundings are those of the formula above.
        let terms = (0..<c).map { Double(scale.scalars[$0]) * invStd[$0] } + dbias.map { $0 / Double(m) } + dscale
        // q / M for q = xhat * dscale: where M is a power of two, q * (1 / M) is the same
        // double (both round the one real number q / 2^k; 1 / M is exact), and a multiply
        // costs a fraction of a division (ResNet18 on CIFAR: every M is a power of two).
        let mIsPowerOfTwo = m & (m - 1) == 0, inverseM = 1 / Double(m)
        let dx = Tensor.withScalars(of: [x, dy, mean]) { b in invStd.withUnsafeBufferPointer { sp in terms.withUnsafeBufferPointer { tp in
            let (xp, dyp, mp, sp, tp) = (b[0].baseAddress!, b[1].baseAddress!, b[2].baseAddress!, sp.baseAddress!, tp.baseAddress!)
            let dm = Double(m)
            return Tensor<T>(shape: x.shape) { dxp in
                let dxp = dxp.baseAddress!
                forEachRowChunk(m) { rows in
                    if c >= rowWiseChannels {
                        // Wide rows: the compiler vectorises along the channels.
                        for i in rows {
                            let row = i &* c
                            if !training {
                                for j in 0..<c { dxp[row &+ j] = T(tp[j] * Double(dyp[row &+ j])) }
                            } else if mIsPowerOfTwo {
                                for j in 0..<c {
                                    let xhat = Double(xp[row &+ j] - mp[j]) * sp[j]
                                    dxp[row &+ j] = T(tp[j] * (Double(dyp[row &+ j]) - tp[c &+ j] - xhat * tp[2 &* c &+ j] * inverseM))
                                }
                            } else {
                                for j in 0..<c {
                                    let xhat = Double(xp[row &+ j] - mp[j]) * sp[j]
                                    dxp[row &+ j] = T(tp[j] * (Double(dyp[row &+ j]) - tp[c &+ j] - xhat * tp[2 &* c &+ j] / dm))
                                }
                            }
                        }
                        return
                    }
                    forEachTile(rows, channels: c, block: { tile, j0 in
                        let k = lanes(tp + j0), meanG = lanes(tp + (c &+ j0)), ds = lanes(tp + (2 &* c &+ j0))
                        let mv = lanes(mp + j0), iv = lanes(sp + j0)
                        // One loop per case, so no case's arithmetic runs in another's.
                        if !training {
                            for i in tile { storeLanes(narrowed(k * widened(lanes(dyp + (i &* c &+ j0))), to: T.self), dxp + (i &* c &+ j0)) }
                        } else if mIsPowerOfTwo {
                            for i in tile {
                                let at = i &* c &+ j0, xhat = widened(lanes(xp + at) - mv) * iv
                                storeLanes(narrowed(k * (widened(lanes(dyp + at)) - meanG - xhat * ds * inverseM), to: T.self), dxp + at)
                            }
                        } else {
                            for i in tile {
                                let at = i &* c &+ j0, xhat = widened(lanes(xp + at) - mv) * iv
                                storeLanes(narrowed(k * (widened(lanes(dyp + at)) - meanG - xhat * ds / dm), to: T.self), dxp + at)
                            }
                        }
                    }, single: { tile, j in
                        for i in tile {
                            let g = Double(dyp[i &* c &+ j])
                            if !training { dxp[i &* c &+ j] = T(tp[j] * g); continue }
                            let xhat = Double(xp[i &* c &+ j] - mp[j]) * sp[j]
                            dxp[i &* c &+ j] = T(mIsPowerOfTwo ? tp[j] * (g - tp[c &+ j] - xhat * tp[2 &* c &+ j] * inverseM)
                                                               : tp[j] * (g - tp[c &+ j] - xhat * tp[2 &* c &+ j] / dm))
                        }
                    })
                }
            }
        } } }
        return (dx, Tensor(shape: [c], scalars: dscale.map { T($0) }), Tensor(shape: [c], scalars: dbias.map { T($0) }))
    }

    /// y = (x - mean) * (scale * invStd) + bias, rounded in T as Flax does.
    static func normalize<T: RefScalar>(_ x: Tensor<T>, mean: [T], invStd: [Double], scale: Tensor<T>, bias: Tensor<T>) -> Tensor<T> {
        let c = mean.count, m = x.count / max(c, 1)
        let mul = (0..<c).map { T(invStd[$0]) * scale.scalars[$0] }
        return x.scalars.withUnsafeBufferPointer { xp in bias.scalars.withUnsafeBufferPointer { bp in
            mean.withUnsafeBufferPointer { mp in mul.withUnsafeBufferPointer { kp in
                Tensor<T>(shape: x.shape) { yp in
                    let (yp, xp, mp, kp, bp) = (yp.baseAddress!, xp.baseAddress!, mp.baseAddress!, kp.baseAddress!, bp.baseAddress!)
                    forEachRowChunk(m) { rows in
                        if c >= rowWiseChannels {
                            for i in rows { for j in 0..<c { yp[i &* c &+ j] = (xp[i &* c &+ j] - mp[j]) * kp[j] + bp[j] } }
                            return
                        }
                        forEachTile(rows, channels: c, block: { tile, j0 in
                            let mv = lanes(mp + j0), kv = lanes(kp + j0), bv = lanes(bp + j0)
                            for i in tile { storeLanes((lanes(xp + (i &* c &+ j0)) - mv) * kv + bv, yp + (i &* c &+ j0)) }
                        }, single: { tile, j in
                            for i in tile { yp[i &* c &+ j] = (xp[i &* c &+ j] - mp[j]) * kp[j] + bp[j] }
                        })
                    }
                }
            } }
        } }
    }

    /// Rows per chunk of every pass: fixed, so sums never depend on the thread count.
    /// Other backends sum in the same chunks to agree to the bit (the CUDA kernels).
    public static let rowChunk = 1024

    /// Runs `body(rows)` over consecutive `rowChunk`-row ranges of `0..<m`, in parallel.
    @inline(__always)
    static func forEachRowChunk(_ m: Int, _ body: (_ rows: Range<Int>) -> Void) {
        Threads.forEachChunk(m, size: rowChunk, body)
    }

    /// Per-channel sums in Double over row chunks, in a fixed order (`Threads.chunkedSums`).
    @inline(__always)
    static func channelSums(rows m: Int, channels c: Int,
                            _ body: (_ rows: Range<Int>, _ acc: UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        Threads.chunkedSums(m, size: rowChunk, width: c, body)
    }
}
