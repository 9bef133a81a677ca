/// The gradient rules: one per op, each mapping the output's cotangent `dy` to a
/// contribution for every differentiable input. Read this as the table of VJPs;
/// the backward function each rule calls sits beside its forward in `Ops/` (and
/// calls the kernels in `Kernels/`). `needs`
/// tells whether an input's gradient is wanted (rules may skip the others).
extension Tape {
    /// The recorded inputs of an op.
    func inputs(of op: Op) -> [Variable] {
        switch op {
        case .leaf: return []
        case let .dense(x, k, b): return [x, k] + (b.map { [$0] } ?? [])
        case let .conv2d(x, k, _): return [x, k]
        case let .batchNorm(x, s, b, _, _, _): return [x, s, b]
        case let .shardedBatchNorm(x, s, b, _, _): return [x] + s + b
        case let .sliceBatch(x, _): return [x]
        case let .concatBatch(xs): return xs
        case let .relu(x), let .mask(x, _), let .avgPool(x, _, _), let .maxPool(x, _, _), let .mean(x, _), let .reshape(x):
            return [x]
        case let .add(a, b): return [a, b]
        case let .softmaxCrossEntropy(z, _, _): return [z]
        case let .custom(_, xs, _): return xs
        }
    }

    func pullback(_ node: Node, _ dy: inout Tensor<T>, needs: (Variable) -> Bool) throws -> [(Variable, Tensor<T>)] {
        switch node.op {
        case .leaf:
            return []

        case let .dense(x, kernel, bias):                // dx = dy W^T, dW = x^T dy, db = sum_rows dy
            let g = DenseOp.backward(dy, x: self[x], w: self[kernel], inputGradient: needs(x))
            return (g.dx.map { [(x, $0)] } ?? []) + [(kernel, g.dw)] + (bias.map { [($0, g.db)] } ?? [])

        case let .conv2d(x, kernel, geometry):           // dx = col2im(dy W^T), dW = im2col(x)^T dy
            let dw = Conv2DKernels.filterGradient(self[x], dy, geometry)
            guard needs(x) else { return [(kernel, dw)] }
            return [(x, Conv2DKernels.inputGradient(dy, self[kernel], geometry)), (kernel, dw)]

        case let .batchNorm(x, scale, bias, mean, invStd, training):  // see BatchNormOp.backward
            let g = BatchNormOp.backward(dy, x: self[x], scale: self[scale], mean: mean, invStd: invStd, training: training)
            return [(x, g.dx), (scale, g.dscale), (bias, g.dbias)]

        case let .shardedBatchNorm(x, scales, biases, mean, invStd):  // see BatchNormOp+Shards.swift
            let g = BatchNormOp.backward(dy, x: self[x], scales: scales.map { self[$0] }, mean: mean, invStd: invStd)
            return [(x, g.dx)] + Array(zip(scales, g.dscales)) + Array(zip(biases, g.dbiases))

        case let .sliceBatch(x, start):                  // dx = dy at the sliced rows, zeros elsewhere
            return [(x, BatchSliceOp.sliceBackward(dy, inputShape: self[x].shape, start: start))]

        case let .concatBatch(xs):                       // dx_k = the rows of dy that came from x_k
            var start = 0
            return try xs.map { x in
                let rows = self[x].shape[0]
                defer { start += rows }
                return (x, try BatchSliceOp.slice(dy, start: start, count: rows))
            }

        case let .relu(x):                               // dx = dy * [x > 0]
            return [(x, ElementwiseOp.reluBackward(dy, x: self[x]))]

        case let .add(a, b):                             // da = db = dy
            return [(a, dy), (b, dy)]

        case let .mask(x, mask):                         // dx = dy * mask
            try mask.apply(inPlace: &dy)                 // dy is the tape's only reference: no copy
            return [(x, dy)]

        case let .avgPool(x, window, strides):           // dx = dy / window, spread over the window
            return [(x, PoolOp.avgPoolBackward(dy, inputShape: self[x].shape, window: window, strides: strides))]

        case let .maxPool(x, argmax, _):                  // dx[argmax] += dy
            return [(x, PoolOp.maxPoolBackward(dy, inputShape: self[x].shape, argmax: argmax))]

        case let .mean(x, axes):                         // dx = broadcast(dy) / count
            return [(x, ReduceOp.meanBackward(dy, inputShape: self[x].shape, axes: axes))]

        case let .reshape(x):                            // dx = reshape(dy)
            return [(x, try dy.reshaped(self[x].shape))]

        case let .softmaxCrossEntropy(logits, labels, logSoftmax):  // dz = dy (softmax - onehot) / N
            return [(logits, CrossEntropyOp.backward(dy.scalar, logSoftmax: logSoftmax, labels: labels))]

        case let .custom(name, inputs, vjp):
            let gs = vjp(dy)
            guard gs.count == inputs.count else {
                throw TensorError.autodiff("custom op \(name): VJP returned \(gs.count) gradients for \(inputs.count) inputs")
            }
            for (v, g) in zip(inputs, gs) where g.shape != self[v].shape {
                throw TensorError.autodiff("custom op \(name): gradient shape \(g.shape) for input of shape \(self[v].shape)")
            }
            return Array(zip(inputs, gs))
        }
    }
}
