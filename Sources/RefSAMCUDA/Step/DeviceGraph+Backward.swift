#if CUDA
import RefTensor

/// The backward pass: one rule per op, as `Tape+Gradients.swift` has them, each adding
/// its contributions to its inputs' gradients on the device.
extension DeviceGraph {
    /// Adds a gradient contribution to node `target`: `write(p)` writes it to `p`; the
    /// first contribution goes straight into the gradient, a later one through scratch.
    func contribute(to target: Int, _ write: (UInt64) throws -> Void) throws {
        guard needed[target], target != imageLeaf else { return }
        if !written[target] {
            try write(gradients[target])
            written[target] = true
        } else {
            try write(scratch)
            try kernels.add(gradients[target], scratch, gradients[target], count(target))
        }
    }

    func backward(_ i: Int, labels: UInt64) throws {
        let dy = gradients[i]
        switch nodes[i].op {
        case .leaf: break
        case let .softmaxCrossEntropy(z, _):           // dz = (softmax - onehot) / N   (cotangent 1)
            let (rows, classes) = (nodes[z].shape[0], nodes[z].shape[1])
            try contribute(to: z) {
                try kernels.crossEntropyBackward(logp: workspace[i]!["logp"]!, labels: self.labels(labels, for: z), dz: $0, rows: rows, classes: classes)
            }
        case let .sliceBatch(x, start):                // dx = dy at the sliced rows, zeros elsewhere
            try contribute(to: x) { g in
                try kernels.fill(g, 0, count(x))
                try kernels.copy(dy, g + UInt64(start * rowSize(x) * size), count(i))
            }
        case let .concatBatch(xs):                     // dx_k = the rows of dy that came from x_k
            var row = 0
            for x in xs {
                let r = row
                try contribute(to: x) { try kernels.copy(dy + UInt64(r * rowSize(i) * size), $0, count(x)) }
                row += nodes[x].shape[0]
            }
        case let .shardedBatchNorm(x, scales, biases): // BatchNormOp+Shards.swift
            let w = workspace[i]!, c = nodes[i].shape.last!, rows = count(i) / c, per = rows / scales.count
            for d in scales.indices {
                let o = UInt64(d * per * c * size), t = UInt64(d * c * size)
                // BatchNormOp+Shards sums each shard's rows in one run (no chunks).
                try kernels.batchNormBackwardSums(value(x) + o, dy + o, rows: per, channels: c, mean: w["mean"]!, invStd: w["invStd"]!,
                                                  sums: w["sums"]! + UInt64(d * 2 * c * 8), dscale: w["dscale"]! + t, dbias: w["dbias"]! + t,
                                                  partial: w["partial"]!, chunk: per)
                try kernels.copy(value(scales[d]), w["scales"]! + t, c)
            }
            for d in scales.indices {
                let t = UInt64(d * c * size)
                try contribute(to: scales[d]) { try kernels.copy(w["dscale"]! + t, $0, c) }
                try contribute(to: biases[d]) { try kernels.copy(w["dbias"]! + t, $0, c) }
            }
            try kernels.batchNormShardTerms(sums: w["sums"]!, scales: w["scales"]!, shards: scales.count, channels: c, ab: w["ab"]!)
            try contribute(to: x) {
                try kernels.batchNormBackwardInputShards(value(x), dy, $0, rows: rows, channels: c, rowsPerShard: per, mean: w["mean"]!,
                                                         invStd: w["invStd"]!, scales: w["scales"]!, ab: w["ab"]!)
            }
        case let .dense(x, k, b):                      // dx = dy W^T, dW = x^T dy, db = sum_rows dy
            let (rows, inF, outF) = (nodes[x].shape[0], nodes[x].shape[1], nodes[k].shape[1])
            try contribute(to: k) { try kernels.gemm(m: inF, n: outF, k: rows, a: value(x), am: 1, ak: inF, b: dy, bk: outF, bn: 1, c: $0, ldc: outF) }
            if let b { try contribute(to: b) { try kernels.columnSums(dy, $0, rows: rows, columns: outF) } }
            try contribute(to: x) { try kernels.gemm(m: rows, n: inF, k: outF, a: dy, am: outF, ak: 1, b: value(k), bk: 1, bn: outF, c: $0, ldc: inF) }
        case let .conv2d(x, k, g):                     // dW = col^T dy, dx = col2im(dy W^T)
            let col = try im2col(value(x), g), rows = g.batch * g.outH * g.outW
            try contribute(to: k) {
                try kernels.gemm(m: g.patchSize, n: g.outC, k: rows, a: col, am: 1, ak: g.patchSize, b: dy, bk: g.outC, bn: 1, c: $0, ldc: g.outC)
            }
            if needed[x] && x != imageLeaf {
                if Self.isPointwise(g) {               // dx = dy W^T directly
                    try contribute(to: x) {
                        try kernels.gemm(m: rows, n: g.inC, k: g.outC, a: dy, am: g.outC, ak: 1, b: value(k), bk: 1, bn: g.outC, c: $0, ldc: g.inC)
                    }
                } else {
                    // dcol reuses the im2col matrix: the filter gradient above has consumed it.
                    try kernels.gemm(m: rows, n: g.patchSize, k: g.outC, a: dy, am: g.outC, ak: 1, b: value(k), bk: 1, bn: g.outC,
                                     c: columns, ldc: g.patchSize)
                    try contribute(to: x) { try kernels.col2im(columns, $0, g) }
                }
            }
        case let .batchNorm(x, s, b, _):
            let w = workspace[i]!, c = nodes[i].shape.last!, rows = count(i) / c
            try kernels.batchNormBackwardSums(value(x), dy, rows: rows, channels: c, mean: w["mean"]!, invStd: w["invStd"]!,
                                              sums: w["sums"]!, dscale: w["dscale"]!, dbias: w["dbias"]!, partial: w["partial"]!)
            try contribute(to: s) { try kernels.copy(w["dscale"]!, $0, c) }
            try contribute(to: b) { try kernels.copy(w["dbias"]!, $0, c) }
            try contribute(to: x) {
                try kernels.batchNormBackwardInput(value(x), dy, $0, rows: rows, channels: c, mean: w["mean"]!, invStd: w["invStd"]!,
                                                   scale: value(s), sums: w["sums"]!)
            }
        case let .relu(x): try contribute(to: x) { try kernels.reluBackward(value(x), dy, $0, count(i)) }
        case let .add(a, b):
            try contribute(to: a) { try kernels.copy(dy, $0, count(i)) }
            try contribute(to: b) { try kernels.copy(dy, $0, count(i)) }
        case let .mask(x):
            try contribute(to: x) { try kernels.applyMask(dy, maskBuffer + UInt64(maskOffsets[x]! * size), $0, count(i)) }
        case let .avgPool(x, g): try contribute(to: x) { try kernels.avgPoolBackward(dy, $0, g) }
        case let .maxPool(x, g): try contribute(to: x) { try kernels.maxPoolBackward(dy, workspace[i]!["argmax"]!, $0, g) }
        case let .mean(x, _):
            let s = nodes[x].shape
            try contribute(to: x) { try kernels.spatialMeanBackward(dy, $0, batch: s[0], pixels: s[1] * s[2], channels: s[3]) }
        case let .reshape(x): try contribute(to: x) { try kernels.copy(dy, $0, count(i)) }
        case .custom:
            throw CUDAError.unsupported("op \(nodes[i].op)")
        }
    }
}
#endif
