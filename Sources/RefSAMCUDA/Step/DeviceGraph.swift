#if CUDA
import RefTensor

/// A model's forward and backward pass on the device, replayed from the CPU tape's
/// `graph` (the same ops, in the same order, with the same gradient rules as
/// `Tape+Gradients.swift`). Every value, gradient and workspace is allocated once, when
/// the graph is built; a pass only launches kernels.
///
/// The leaves before the images are the parameters: one copy (the parameter tree, in its
/// order) or, for shards sharing BatchNorm statistics, one copy per shard. A pass reads
/// each copy from a flat buffer and writes its gradients to another. The pass ends in
/// the loss: one cross-entropy, or the sum of one per shard.
final class DeviceGraph<T: RefScalar> {
    let kernels: DeviceKernels<T>
    let nodes: [GraphNode]
    /// Per parameter leaf: which copy it belongs to, and its element offset in that copy.
    let leaves: [(copy: Int, offset: Int)]
    let imageLeaf: Int
    let loss: Int
    let logits: Int
    /// The cross-entropy nodes, in order (one per shard); each writes its loss to lossOut + k.
    let crossEntropies: [Int]
    /// Flat offsets (elements) of each BatchNorm's mean and var in the batch-statistics
    /// buffer, per batch-norm op in tape order.
    let batchNormStats: [Int: (mean: Int, variance: Int)]
    /// Element offset in the mask buffer of each masked parameter, by leaf.
    let maskOffsets: [Int: Int]

    var values: [UInt64]
    var gradients: [UInt64]
    var memory: [DeviceMemory] = []
    /// Per node: workspace (argmax, BatchNorm statistics), by role.
    var workspace: [Int: [String: UInt64]] = [:]
    var needed: [Bool]
    var scratch: UInt64 = 0
    /// One im2col matrix shared by every convolution: a convolution fills it in its forward
    /// pass and again in its backward pass (for the filter gradient), then reuses it for
    /// dy W^T, so only the largest is ever held. A 1x1 convolution with stride 1 and no
    /// padding needs none: its im2col matrix is its input.
    var columns: UInt64 = 0
    var written: [Bool]
    let size = MemoryLayout<T>.stride

    /// Builds the device graph of `nodes`: a tape of one pass (parameter leaves, the image
    /// leaf, the model, then the loss as the last node: a cross-entropy, or the sum of one
    /// per shard). `backward: false` builds a forward-only graph (evaluation), ending in
    /// the logits, with no gradient buffers.
    init(_ device: CUDADevice, nodes: [GraphNode], leaves: [(copy: Int, offset: Int)], batchNormOffsets: [(mean: Int, variance: Int)],
         maskOffsets: [Int: Int], backward: Bool = true) throws {
        kernels = DeviceKernels(device: device)
        self.nodes = nodes
        self.leaves = leaves
        self.maskOffsets = maskOffsets
        imageLeaf = leaves.count
        loss = nodes.count - 1
        crossEntropies = nodes.indices.filter { if case .softmaxCrossEntropy = nodes[$0].op { return true } else { return false } }
        if let first = crossEntropies.first, case let .softmaxCrossEntropy(z, _) = nodes[first].op {
            // The logits of the whole batch: the CE's input, or what the shards' CEs slice.
            if case let .sliceBatch(whole, _) = nodes[z].op { logits = whole } else { logits = z }
        } else {
            logits = nodes.count - 1          // a forward-only graph (evaluation) ends in the logits
        }
        values = Array(repeating: 0, count: nodes.count)
        gradients = Array(repeating: 0, count: nodes.count)
        written = Array(repeating: false, count: nodes.count)
        // Which values need a gradient: those on a path from a parameter to the loss.
        var need = Array(repeating: false, count: nodes.count)
        for i in 0..<leaves.count { need[i] = backward }
        for i in leaves.count..<nodes.count where !need[i] { need[i] = nodes[i].op.inputs.contains { need[$0] } }
        needed = need
        var bn: [Int: (mean: Int, variance: Int)] = [:]
        var k = 0
        for (i, n) in nodes.enumerated() {
            var norm = false
            if case .batchNorm = n.op { norm = true }
            if case .shardedBatchNorm = n.op { norm = true }
            if norm {
                guard k < batchNormOffsets.count else { throw CUDAError.unsupported("more batch norms on the tape than in batch_stats") }
                bn[i] = batchNormOffsets[k]; k += 1
            }
        }
        self.batchNormStats = bn
        try allocate(device)
    }

    func buffer(_ device: CUDADevice, elements: Int, of bytes: Int? = nil) throws -> UInt64 {
        let m = try device.allocate(elements * (bytes ?? size))
        memory.append(m)
        return m.pointer
    }

    /// Values, gradients and workspaces of every node; parameters and images are bound per pass.
    func allocate(_ device: CUDADevice) throws {
        var largest = 0, largestColumns = 0
        for (i, n) in nodes.enumerated() where i > imageLeaf {
            let count = n.shape.reduce(1, *)
            largest = max(largest, count)
            switch n.op {
            case .reshape, .sliceBatch: break                      // alias (part of) their input
            default: values[i] = try buffer(device, elements: count)
            }
            if needed[i] { gradients[i] = try buffer(device, elements: count) }
            switch n.op {
            case let .conv2d(_, _, g):
                if !Self.isPointwise(g) { largestColumns = max(largestColumns, g.batch * g.outH * g.outW * g.patchSize) }
            case .batchNorm(_, _, _, false):             // evaluation: the running statistics
                workspace[i] = ["invStd": try buffer(device, elements: n.shape.last ?? 0, of: 8)]
            case .batchNorm:
                workspace[i] = try batchNormWorkspace(device, rows: count / max(n.shape.last ?? 1, 1), channels: n.shape.last ?? 0, shards: 1)
            case let .shardedBatchNorm(_, scales, _):
                workspace[i] = try batchNormWorkspace(device, rows: count / max(n.shape.last ?? 1, 1), channels: n.shape.last ?? 0,
                                                      shards: scales.count)
            case .maxPool:
                workspace[i] = ["argmax": try buffer(device, elements: count, of: 4)]
            case let .softmaxCrossEntropy(z, _):
                let rows = nodes[z].shape[0]
                workspace[i] = ["logp": try buffer(device, elements: nodes[z].shape.reduce(1, *)), "rowLoss": try buffer(device, elements: rows)]
            case let .mean(x, axes):
                guard nodes[x].shape.count == 4, axes.sorted() == [1, 2] else {
                    throw CUDAError.unsupported("mean over axes \(axes) of a rank-\(nodes[x].shape.count) tensor (only the spatial mean)")
                }
            case let .custom(name, _):
                throw CUDAError.unsupported("the custom op \(name)")
            default: break
            }
        }
        for i in 0..<imageLeaf { largest = max(largest, nodes[i].shape.reduce(1, *)) }
        scratch = try buffer(device, elements: max(largest, 1))
        columns = try buffer(device, elements: max(largestColumns, 1))
    }

    /// A training-mode BatchNorm's buffers: its batch statistics, the partial sums behind
    /// them, and per shard its backward sums (double) and scale and bias gradients; with
    /// shards, also the shards' scales side by side and the combined terms.
    func batchNormWorkspace(_ device: CUDADevice, rows: Int, channels c: Int, shards d: Int) throws -> [String: UInt64] {
        var w = ["mean": try buffer(device, elements: c), "var": try buffer(device, elements: c),
                 "invStd": try buffer(device, elements: c, of: 8), "sums": try buffer(device, elements: 2 * c * d, of: 8),
                 "dscale": try buffer(device, elements: c * d), "dbias": try buffer(device, elements: c * d),
                 "partial": try buffer(device, elements: DeviceKernels<T>.batchNormPartials(rows: rows, channels: c), of: 8)]
        if d > 1 { w["scales"] = try buffer(device, elements: c * d); w["ab"] = try buffer(device, elements: 2 * c, of: 8) }
        return w
    }

    /// A 1x1 convolution, stride 1, no padding: its im2col matrix is its input [N*H*W, C].
    static func isPointwise(_ g: ConvGeometry) -> Bool {
        g.kH == 1 && g.kW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0 && g.padBottom == 0 && g.padRight == 0
    }

    /// The im2col matrix of convolution `g` over `x`: x itself when pointwise, else filled
    /// into the shared buffer.
    func im2col(_ x: UInt64, _ g: ConvGeometry) throws -> UInt64 {
        if Self.isPointwise(g) { return x }
        try kernels.im2col(x, columns, g)
        return columns
    }

    /// The value of node i (for a reshape, its input's; for a batch slice, its rows of its input's).
    func value(_ i: Int) -> UInt64 {
        switch nodes[i].op {
        case let .reshape(x): return value(x)
        case let .sliceBatch(x, start): return value(x) + UInt64(start * rowSize(x) * size)
        default: return values[i]
        }
    }

    /// Elements per row (per image) of node i.
    func rowSize(_ i: Int) -> Int { nodes[i].shape.dropFirst().reduce(1, *) }

    /// The labels of a cross-entropy over logits `z`: a shard's rows of the batch's when
    /// `z` is a batch slice.
    func labels(_ labels: UInt64, for z: Int) -> UInt64 {
        if case let .sliceBatch(_, start) = nodes[z].op { return labels + UInt64(start * 4) }
        return labels
    }

    /// Binds the parameter leaves to the copies `params` (flat, one per copy) and, when
    /// given, their gradients to `grads`; the image leaf to `images`.
    func bind(params: [UInt64], grads: [UInt64]?, images: UInt64) {
        for (p, leaf) in leaves.enumerated() {
            values[p] = params[leaf.copy] + UInt64(leaf.offset * size)
            if let grads { gradients[p] = grads[leaf.copy] + UInt64(leaf.offset * size) }
        }
        values[imageLeaf] = images
    }

    func count(_ i: Int) -> Int { nodes[i].shape.reduce(1, *) }

    /// The running statistics (flat) a forward pass in evaluation mode reads.
    var statistics: UInt64 = 0

    /// The forward pass alone, BatchNorm with the running statistics in `statistics`
    /// (evaluation); the logits are left in `value(logits)`.
    func forward(params: [UInt64], images: UInt64, statistics: UInt64) throws {
        self.statistics = statistics
        bind(params: params, grads: nil, images: images)
        for i in (imageLeaf + 1)..<nodes.count { try forward(i, labels: 0, lossOut: 0) }
    }

    /// One pass: forward from the parameter copies `params` (flat, one per copy) and
    /// `images`; each cross-entropy's loss into `lossOut` + k (one per shard); backward of
    /// their sum with each copy's gradients into `grads` (flat, one per copy). The batch
    /// moments are left in each batch norm's workspace ("mean", "var").
    func pass(params: [UInt64], images: UInt64, labels: UInt64, grads: [UInt64], lossOut: UInt64) throws {
        bind(params: params, grads: grads, images: images)
        for i in (imageLeaf + 1)..<nodes.count { try forward(i, labels: labels, lossOut: lossOut) }
        for i in 0..<nodes.count { written[i] = false }
        // d(loss)/d(loss) = 1; below a sum of losses, each cross-entropy's cotangent is 1 too.
        try kernels.fill(gradients[loss], 1, 1)
        written[loss] = true
        for i in stride(from: nodes.count - 1, to: imageLeaf, by: -1) where needed[i] && (written[i] || i == loss) {
            try backward(i, labels: labels)
        }
        // A parameter that does not reach the loss gets a zero gradient, as on the CPU.
        for p in 0..<imageLeaf where !written[p] { try kernels.fill(gradients[p], 0, count(p)) }
    }

    func forward(_ i: Int, labels: UInt64, lossOut: UInt64) throws {
        let y = values[i], n = count(i)
        switch nodes[i].op {
        case .leaf, .reshape, .sliceBatch: break
        case let .concatBatch(xs):
            var row = 0
            for x in xs {
                try kernels.copy(value(x), y + UInt64(row * rowSize(i) * size), count(x))
                row += nodes[x].shape[0]
            }
        case let .shardedBatchNorm(x, scales, biases):
            let w = workspace[i]!, c = nodes[i].shape.last!, rows = n / c, per = rows / scales.count
            try kernels.batchNormStatistics(value(x), rows: rows, channels: c, mean: w["mean"]!, variance: w["var"]!, invStd: w["invStd"]!,
                                            partial: w["partial"]!)
            for d in scales.indices {
                let o = UInt64(d * per * c * size)
                try kernels.batchNormApply(value(x) + o, y + o, rows: per, channels: c, mean: w["mean"]!, invStd: w["invStd"]!,
                                           scale: value(scales[d]), bias: value(biases[d]))
            }
        case let .dense(x, k, b):
            let (rows, inF, outF) = (nodes[x].shape[0], nodes[x].shape[1], nodes[k].shape[1])
            try kernels.gemm(m: rows, n: outF, k: inF, a: value(x), am: inF, ak: 1, b: value(k), bk: outF, bn: 1, c: y, ldc: outF)
            if let b { try kernels.addBias(y, value(b), rows: rows, columns: outF) }
        case let .conv2d(x, k, g):
            let col = try im2col(value(x), g)
            let rows = g.batch * g.outH * g.outW
            try kernels.gemm(m: rows, n: g.outC, k: g.patchSize, a: col, am: g.patchSize, ak: 1, b: value(k), bk: g.outC, bn: 1,
                             c: y, ldc: g.outC)
        case let .batchNorm(x, s, b, false):
            let w = workspace[i]!, c = nodes[i].shape.last!, rows = n / c
            guard let o = batchNormStats[i] else { throw CUDAError.unsupported("a BatchNorm without running statistics") }
            let mean = statistics + UInt64(o.mean * size), variance = statistics + UInt64(o.variance * size)
            try kernels.inferenceInvStd(variance: variance, invStd: w["invStd"]!, channels: c)
            try kernels.batchNormApply(value(x), y, rows: rows, channels: c, mean: mean, invStd: w["invStd"]!, scale: value(s), bias: value(b))
        case let .batchNorm(x, s, b, _):
            let w = workspace[i]!, c = nodes[i].shape.last!, rows = n / c
            try kernels.batchNormStatistics(value(x), rows: rows, channels: c, mean: w["mean"]!, variance: w["var"]!, invStd: w["invStd"]!,
                                            partial: w["partial"]!)
            try kernels.batchNormApply(value(x), y, rows: rows, channels: c, mean: w["mean"]!, invStd: w["invStd"]!, scale: value(s), bias: value(b))
        case let .relu(x): try kernels.relu(value(x), y, n)
        case let .add(a, b): try kernels.add(value(a), value(b), y, n)
        case let .mask(x):
            guard let offset = maskOffsets[x] else { throw CUDAError.unsupported("a mask on something other than a parameter") }
            try kernels.applyMask(value(x), maskBuffer + UInt64(offset * size), y, n)
        case let .avgPool(x, g): try kernels.avgPool(value(x), y, g)
        case let .maxPool(x, g): try kernels.maxPool(value(x), y, workspace[i]!["argmax"]!, g)
        case let .mean(x, _):
            let s = nodes[x].shape
            try kernels.spatialMean(value(x), y, batch: s[0], pixels: s[1] * s[2], channels: s[3])
        case let .softmaxCrossEntropy(z, _):
            let w = workspace[i]!, k = crossEntropies.firstIndex(of: i)!
            try kernels.crossEntropy(value(z), labels: self.labels(labels, for: z), logp: w["logp"]!, rowLoss: w["rowLoss"]!,
                                     loss: lossOut + UInt64(k * size), rows: nodes[z].shape[0], classes: nodes[z].shape[1])
            try kernels.copy(lossOut + UInt64(k * size), y, 1)
        case .custom:
            throw CUDAError.unsupported("op \(nodes[i].op)")
        }
    }

    /// The masks of the masked parameters (flat, bound by the trainer).
    var maskBuffer: UInt64 = 0
}
#endif
