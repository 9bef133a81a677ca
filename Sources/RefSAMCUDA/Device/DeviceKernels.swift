#if CUDA
import RefTensor

/// Typed launches of the kernels in `Kernels/`, one function per kernel, each stating the
/// shapes it expects. `T` is the element type the device's kernels were compiled for.
struct DeviceKernels<T: RefScalar> {
    let device: CUDADevice

    func real(_ v: Double) -> KernelArgument { T.self == Float.self ? .float(Float(v)) : .double(v) }

    /// C[M, N] (=|+=) A(m, k) B(k, n), with A(m, k) = A[m * am + k * ak], B(k, n) = B[k * bk + n * bn].
    func gemm(m: Int, n: Int, k: Int, a: UInt64, am: Int, ak: Int, b: UInt64, bk: Int, bn: Int, c: UInt64, ldc: Int,
              accumulate: Bool = false) throws {
        try device.launch("gemm", grid: ((n + 63) / 64, (m + 63) / 64), block: (16, 16),
                          [.int(Int32(m)), .int(Int32(n)), .int(Int32(k)), .pointer(a), .long(am), .long(ak), .pointer(b),
                           .long(bk), .long(bn), .pointer(c), .long(ldc), .int(accumulate ? 1 : 0)])
    }

    func geometryArguments(_ g: ConvGeometry, padding: Bool) -> [KernelArgument] {
        var a: [KernelArgument] = [.int(Int32(g.batch)), .int(Int32(g.inH)), .int(Int32(g.inW)), .int(Int32(g.inC)),
                                   .int(Int32(g.kH)), .int(Int32(g.kW)), .int(Int32(g.strideH)), .int(Int32(g.strideW))]
        if padding { a += [.int(Int32(g.padTop)), .int(Int32(g.padLeft))] }
        return a + [.int(Int32(g.outH)), .int(Int32(g.outW))]
    }

    func elementwise(_ name: String, count n: Int, _ args: [KernelArgument]) throws {
        try device.launch(name, grid: device.elementwiseGrid(n), block: (256, 1), args)
    }

    func im2col(_ x: UInt64, _ col: UInt64, _ g: ConvGeometry) throws {
        try elementwise("im2col", count: g.batch * g.outH * g.outW * g.patchSize, [.pointer(x), .pointer(col)] + geometryArguments(g, padding: true))
    }
    func col2im(_ dcol: UInt64, _ dx: UInt64, _ g: ConvGeometry) throws {
        try elementwise("col2im", count: g.inputShape.reduce(1, *), [.pointer(dcol), .pointer(dx)] + geometryArguments(g, padding: true))
    }

    /// Rows per chunk of BatchNorm's sums: the CPU reference's, so the sums are taken in its order.
    static var batchNormRowChunk: Int { BatchNormOp.rowChunk }

    /// Doubles of partial sums a BatchNorm over `rows` x `channels` needs (backward: two per chunk).
    static func batchNormPartials(rows: Int, channels: Int) -> Int { 2 * channels * max(1, (rows + batchNormRowChunk - 1) / batchNormRowChunk) }

    func batchNormStatistics(_ x: UInt64, rows: Int, channels: Int, mean: UInt64, variance: UInt64, invStd: UInt64, partial: UInt64) throws {
        let chunk = Self.batchNormRowChunk, chunks = (rows + chunk - 1) / chunk
        for stage in 0..<2 {
            try elementwise("bn_partial_sums", count: chunks * channels,
                            [.pointer(x), .long(rows), .int(Int32(channels)), .long(chunk), .pointer(stage == 0 ? 0 : mean), .pointer(partial)])
            try elementwise("bn_finish_statistics", count: channels,
                            [.pointer(partial), .long(chunks), .long(rows), .int(Int32(channels)), .double(BatchNormOp.defaultEpsilon),
                             .int(Int32(stage)), .pointer(mean), .pointer(variance), .pointer(invStd)])
        }
    }
    func batchNormApply(_ x: UInt64, _ y: UInt64, rows: Int, channels: Int, mean: UInt64, invStd: UInt64, scale: UInt64, bias: UInt64) throws {
        try elementwise("bn_apply", count: rows * channels, [.pointer(x), .pointer(y), .long(rows), .int(Int32(channels)),
                                                              .pointer(mean), .pointer(invStd), .pointer(scale), .pointer(bias)])
    }
    /// dbias and dscale (double `sums`, and rounded), summed in chunks of `chunk` rows (the
    /// CPU's order: 1024 rows; one chunk of a shard's rows for shards sharing statistics).
    func batchNormBackwardSums(_ x: UInt64, _ dy: UInt64, rows: Int, channels: Int, mean: UInt64, invStd: UInt64,
                               sums: UInt64, dscale: UInt64, dbias: UInt64, partial: UInt64, chunk: Int = batchNormRowChunk) throws {
        let chunks = (rows + chunk - 1) / chunk
        try elementwise("bn_backward_partials", count: chunks * channels,
                        [.pointer(x), .pointer(dy), .long(rows), .int(Int32(channels)), .long(chunk), .pointer(mean), .pointer(invStd),
                         .pointer(partial)])
        try elementwise("bn_backward_finish", count: channels,
                        [.pointer(partial), .long(chunks), .int(Int32(channels)), .pointer(sums), .pointer(dscale), .pointer(dbias)])
    }
    func batchNormBackwardInput(_ x: UInt64, _ dy: UInt64, _ dx: UInt64, rows: Int, channels: Int, mean: UInt64, invStd: UInt64,
                                scale: UInt64, sums: UInt64) throws {
        try elementwise("bn_backward_dx", count: rows * channels,
                        [.pointer(x), .pointer(dy), .pointer(dx), .long(rows), .int(Int32(channels)), .pointer(mean),
                         .pointer(invStd), .pointer(scale), .pointer(sums)])
    }
    func batchNormShardTerms(sums: UInt64, scales: UInt64, shards: Int, channels: Int, ab: UInt64) throws {
        try elementwise("bn_shard_terms", count: channels, [.pointer(sums), .pointer(scales), .int(Int32(shards)), .int(Int32(channels)), .pointer(ab)])
    }
    func batchNormBackwardInputShards(_ x: UInt64, _ dy: UInt64, _ dx: UInt64, rows: Int, channels: Int, rowsPerShard: Int,
                                      mean: UInt64, invStd: UInt64, scales: UInt64, ab: UInt64) throws {
        try elementwise("bn_backward_dx_shards", count: rows * channels,
                        [.pointer(x), .pointer(dy), .pointer(dx), .long(rows), .int(Int32(channels)), .long(rowsPerShard), .pointer(mean),
                         .pointer(invStd), .pointer(scales), .pointer(ab)])
    }
    func inferenceInvStd(variance: UInt64, invStd: UInt64, channels: Int) throws {
        try elementwise("bn_inference_inv_std", count: channels, [.pointer(variance), .double(BatchNormOp.defaultEpsilon), .pointer(invStd),
                                                                  .int(Int32(channels))])
    }
    func runningUpdate(_ running: UInt64, _ batch: UInt64, _ out: UInt64, channels: Int, momentum: Double) throws {
        // Flax rounds both coefficients to the element type: a = T(0.9), b = T(1 - 0.9).
        try elementwise("bn_running_update", count: channels, [.pointer(running), .pointer(batch), .pointer(out), .int(Int32(channels)),
                                                                real(momentum), real(1 - momentum)])
    }

    func fill(_ y: UInt64, _ value: Double, _ n: Int) throws { try elementwise("fill", count: n, [.pointer(y), real(value), .long(n)]) }
    func copy(_ x: UInt64, _ y: UInt64, _ n: Int) throws { try elementwise("copy", count: n, [.pointer(x), .pointer(y), .long(n)]) }
    func add(_ a: UInt64, _ b: UInt64, _ y: UInt64, _ n: Int) throws {
        try elementwise("add", count: n, [.pointer(a), .pointer(b), .pointer(y), .long(n)])
    }
    func divide(_ x: UInt64, _ y: UInt64, by d: Double, _ n: Int) throws {
        try elementwise("divide", count: n, [.pointer(x), .pointer(y), real(d), .long(n)])
    }
    func relu(_ x: UInt64, _ y: UInt64, _ n: Int) throws { try elementwise("relu", count: n, [.pointer(x), .pointer(y), .long(n)]) }
    func reluBackward(_ x: UInt64, _ dy: UInt64, _ dx: UInt64, _ n: Int) throws {
        try elementwise("relu_backward", count: n, [.pointer(x), .pointer(dy), .pointer(dx), .long(n)])
    }
    func applyMask(_ x: UInt64, _ mask: UInt64, _ y: UInt64, _ n: Int) throws {
        try elementwise("apply_mask", count: n, [.pointer(x), .pointer(mask), .pointer(y), .long(n)])
    }
    func addBias(_ y: UInt64, _ bias: UInt64, rows: Int, columns: Int) throws {
        try elementwise("add_bias", count: rows * columns, [.pointer(y), .pointer(bias), .long(rows), .int(Int32(columns))])
    }
    func columnSums(_ x: UInt64, _ out: UInt64, rows: Int, columns: Int) throws {
        try elementwise("column_sums", count: columns, [.pointer(x), .pointer(out), .long(rows), .int(Int32(columns))])
    }

    func avgPool(_ x: UInt64, _ y: UInt64, _ g: ConvGeometry) throws {
        try elementwise("avg_pool", count: g.outputShape.reduce(1, *), [.pointer(x), .pointer(y)] + geometryArguments(g, padding: false))
    }
    func avgPoolBackward(_ dy: UInt64, _ dx: UInt64, _ g: ConvGeometry) throws {
        try elementwise("avg_pool_backward", count: g.inputShape.reduce(1, *), [.pointer(dy), .pointer(dx)] + geometryArguments(g, padding: false))
    }
    func maxPool(_ x: UInt64, _ y: UInt64, _ argmax: UInt64, _ g: ConvGeometry) throws {
        try elementwise("max_pool", count: g.outputShape.reduce(1, *), [.pointer(x), .pointer(y), .pointer(argmax)] + geometryArguments(g, padding: true))
    }
    func maxPoolBackward(_ dy: UInt64, _ argmax: UInt64, _ dx: UInt64, _ g: ConvGeometry) throws {
        try elementwise("max_pool_backward", count: g.inputShape.reduce(1, *),
                        [.pointer(dy), .pointer(argmax), .pointer(dx)] + geometryArguments(g, padding: true))
    }
    func spatialMean(_ x: UInt64, _ y: UInt64, batch: Int, pixels: Int, channels: Int) throws {
        try elementwise("spatial_mean", count: batch * channels, [.pointer(x), .pointer(y), .int(Int32(batch)), .int(Int32(pixels)), .int(Int32(channels))])
    }
    func spatialMeanBackward(_ dy: UInt64, _ dx: UInt64, batch: Int, pixels: Int, channels: Int) throws {
        try elementwise("spatial_mean_backward", count: batch * pixels * channels,
                        [.pointer(dy), .pointer(dx), .int(Int32(batch)), .int(Int32(pixels)), .int(Int32(channels))])
    }

    func crossEntropy(_ z: UInt64, labels: UInt64, logp: UInt64, rowLoss: UInt64, loss: UInt64, rows: Int, classes: Int) throws {
        try elementwise("cross_entropy", count: rows, [.pointer(z), .pointer(labels), .pointer(logp), .pointer(rowLoss),
                                                       .int(Int32(rows)), .int(Int32(classes))])
        try device.launch("mean_of_rows", grid: (1, 1), block: (1, 1), [.pointer(rowLoss), .pointer(loss), .int(Int32(rows))])
    }
    func crossEntropyBackward(logp: UInt64, labels: UInt64, dz: UInt64, rows: Int, classes: Int) throws {
        try elementwise("cross_entropy_backward", count: rows * classes,
                        [.pointer(logp), .pointer(labels), .pointer(dz), .int(Int32(rows)), .int(Int32(classes)), real(1)])
    }

    /// Blocks of the norm's first stage: fixed, so its sum has one order whatever the size.
    static var normBlocks: Int { 64 }

    /// norm = ||g|| over n values (double), denominator = T(norm) + T(1e-12), both on the device.
    func norm(_ g: UInt64, _ n: Int, partial: UInt64, norm: UInt64, denominator: UInt64) throws {
        try device.launch("sum_of_squares", grid: (Self.normBlocks, 1), block: (256, 1), [.pointer(g), .long(n), .pointer(partial)])
        try device.launch("finish_norm", grid: (1, 1), block: (256, 1),
                          [.pointer(partial), .int(Int32(Self.normBlocks)), .pointer(norm), .pointer(denominator)])
    }
    func ascentPoint(_ p: UInt64, _ g: UInt64, _ out: UInt64, rho: Double, denominator: UInt64, _ n: Int) throws {
        try elementwise("ascent_point", count: n, [.pointer(p), .pointer(g), .pointer(out), real(rho), .pointer(denominator), .long(n)])
    }
    func momentumUpdate(p: UInt64, trace: UInt64, g: UInt64, _ h: (weightDecay: Double, momentum: Double, learningRate: Double),
                        gOut: UInt64, traceOut: UInt64, pOut: UInt64, _ n: Int) throws {
        try elementwise("momentum_update", count: n, [.pointer(p), .pointer(trace), .pointer(g), real(h.weightDecay), real(h.momentum),
                                                      real(h.learningRate), .pointer(gOut), .pointer(traceOut), .pointer(pOut), .long(n)])
    }
}
#endif
