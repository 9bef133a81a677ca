/// Recording ops: each computes its value now (with the kernels in `Ops/`) and
/// records what its gradient rule needs. Shapes are checked here, before any work.
extension Tape {
    /// y = x @ kernel + bias; x [N, in], kernel [in, out], bias [out].
    public func dense(_ x: Variable, kernel: Variable, bias: Variable?) throws -> Variable {
        try check(x, "dense"); try check(kernel, "dense"); if let bias { try check(bias, "dense") }
        let y = try DenseOp.forward(self[x], self[kernel], bias.map { self[$0] })
        return record(y, .dense(x: x, kernel: kernel, bias: bias))
    }

    /// Cross-correlation, x NHWC, kernel HWIO, no bias.
    public func conv2d(_ x: Variable, kernel: Variable, strides: (Int, Int) = (1, 1), padding: Padding) throws -> Variable {
        try check(x, "conv2d"); try check(kernel, "conv2d")
        let g = try Conv2DOp.geometry(input: self[x].shape, kernel: self[kernel].shape, strides: strides, padding: padding)
        return record(Conv2DKernels.forward(self[x], self[kernel], g), .conv2d(x: x, kernel: kernel, geometry: g))
    }

    /// Batch norm in training mode; also returns the batch mean and biased variance.
    public func batchNorm(_ x: Variable, scale: Variable, bias: Variable, epsilon: Double = BatchNormOp.defaultEpsilon) throws
        -> (y: Variable, mean: Tensor<T>, variance: Tensor<T>) {
        try check(x, "batchNorm"); try check(scale, "batchNorm"); try check(bias, "batchNorm")
        let r = try BatchNormOp.forwardTraining(self[x], scale: self[scale], bias: self[bias], epsilon: epsilon)
        let y = record(r.y, .batchNorm(x: x, scale: scale, bias: bias, mean: r.mean, invStd: r.invStd, training: true))
        return (y, r.mean, r.variance)
    }

    /// Batch norm in training mode with statistics over the whole batch and one scale
    /// and bias per equal shard of its rows (`BatchNormOp+Shards.swift`); also returns
    /// the shared batch mean and biased variance.
    public func shardedBatchNorm(_ x: Variable, scales: [Variable], biases: [Variable],
                                 epsilon: Double = BatchNormOp.defaultEpsilon) throws
        -> (y: Variable, mean: Tensor<T>, variance: Tensor<T>) {
        try check(x, "shardedBatchNorm")
        for v in scales + biases { try check(v, "shardedBatchNorm") }
        let r = try BatchNormOp.forwardTraining(self[x], scales: scales.map { self[$0] }, biases: biases.map { self[$0] },
                                                epsilon: epsilon)
        let y = record(r.y, .shardedBatchNorm(x: x, scales: scales, biases: biases, mean: r.mean, invStd: r.invStd))
        return (y, r.mean, r.variance)
    }

    /// Batch norm in evaluation mode, with running statistics (constants).
    public func batchNorm(_ x: Variable, scale: Variable, bias: Variable, runningMean: Tensor<T>, runningVariance: Tensor<T>,
                          epsilon: Double = BatchNormOp.defaultEpsilon) throws -> Variable {
        try check(x, "batchNorm"); try check(scale, "batchNorm"); try check(bias, "batchNorm")
        let r = try BatchNormOp.forwardInference(self[x], scale: self[scale], bias: self[bias],
                                                 mean: runningMean, variance: runningVariance, epsilon: epsilon)
        return record(r.y, .batchNorm(x: x, scale: scale, bias: bias, mean: runningMean, invStd: r.invStd, training: false))
    }

    /// max(x, 0) elementwise (or x times a replayed pattern: `reluPatterns`).
    public func relu(_ x: Variable) throws -> Variable {
        try check(x, "relu")
        if case .record? = reluPatterns { noteReLU(self[x]) }
        if case .replay? = reluPatterns {
            guard let pattern = nextReLUPattern(), pattern.dense.shape == self[x].shape else {
                throw TensorError.invalidArgument(op: "relu", detail: "the replayed activation patterns do not match this forward pass")
            }
            return try multiply(x, mask: pattern)
        }
        return record(ElementwiseOp.relu(self[x]), .relu(x))
    }

    /// a + b, identical shapes.
    public func add(_ a: Variable, _ b: Variable) throws -> Variable {
        try check(a, "add"); try check(b, "add")
        return record(try ElementwiseOp.add(self[a], self[b]), .add(a, b))
    }

    /// x * mask elementwise, the mask a constant of x's shape (pruning).
    public func multiply(_ x: Variable, mask: Tensor<T>) throws -> Variable {
        try multiply(x, mask: Mask(mask))
    }

    /// x * mask with the mask prepared once (see `Mask`: exact, and cheap when sparse).
    public func multiply(_ x: Variable, mask: Mask<T>) throws -> Variable {
        try check(x, "multiply")
        return record(try mask.apply(to: self[x]), .mask(x, mask))
    }

    /// Average pool, VALID.
    public func avgPool(_ x: Variable, window: (Int, Int), strides: (Int, Int)) throws -> Variable {
        try check(x, "avgPool")
        return record(try PoolOp.avgPool(self[x], window: window, strides: strides), .avgPool(x, window: window, strides: strides))
    }

    /// Max pool; padding counts as -infinity; ties go to the first maximum.
    public func maxPool(_ x: Variable, window: (Int, Int), strides: (Int, Int), padding: Padding) throws -> Variable {
        try check(x, "maxPool")
        let r = try PoolOp.maxPool(self[x], window: window, strides: strides, padding: padding)
        let g = try PoolOp.geometry(self[x].shape, window: window, strides: strides, padding: padding, op: "maxPool")
        return record(r.y, .maxPool(x, argmax: r.argmax, geometry: g))
    }

    /// Mean over `axes` (removed from the shape).
    public func mean(_ x: Variable, axes: [Int]) throws -> Variable {
        try check(x, "mean")
        return record(try ReduceOp.mean(self[x], axes: axes), .mean(x, axes: axes))
    }

    /// The same values under `shape` (equal element count); the gradient is reshaped back.
    public func reshape(_ x: Variable, to shape: [Int]) throws -> Variable {
        try check(x, "reshape")
        return record(try self[x].reshaped(shape), .reshape(x))
    }

    /// [N, ...] -> [N, product of the rest]
    public func flatten(_ x: Variable) throws -> Variable {
        try check(x, "flatten")
        let s = self[x].shape
        guard let n = s.first else { throw TensorError.invalidShape(op: "flatten", shape: s, detail: "needs a batch axis") }
        return try reshape(x, to: [n, s.dropFirst().reduce(1, *)])
    }

    /// Rows `start ..< start + count` of the batch axis.
    public func sliceBatch(_ x: Variable, start: Int, count: Int) throws -> Variable {
        try check(x, "sliceBatch")
        return record(try BatchSliceOp.slice(self[x], start: start, count: count), .sliceBatch(x, start: start))
    }

    /// The variables stacked along the batch axis, in order.
    public func concatBatch(_ xs: [Variable]) throws -> Variable {
        for x in xs { try check(x, "concatBatch") }
        return record(try BatchSliceOp.concat(xs.map { self[$0] }), .concatBatch(xs))
    }

    /// Mean softmax cross-entropy of logits [N, classes] against integer labels [N].
    public func softmaxCrossEntropy(logits: Variable, labels: [Int32]) throws -> Variable {
        try check(logits, "softmaxCrossEntropy")
        let r = try CrossEntropyOp.forward(self[logits], labels: labels)
        return record(Tensor(scalar: r.loss), .softmaxCrossEntropy(logits: logits, labels: labels, logSoftmax: r.logSoftmax))
    }

    /// An op defined by the caller: its value, and a VJP returning one gradient per input
    /// (each of that input's shape). Used to test the gradient checker, and for experiments.
    public func custom(_ name: String, inputs: [Variable], value: Tensor<T>,
                       vjp: @escaping (Tensor<T>) -> [Tensor<T>]) throws -> Variable {
        for v in inputs { try check(v, name) }
        return record(value, .custom(name: name, inputs: inputs, vjp: vjp))
    }
}
