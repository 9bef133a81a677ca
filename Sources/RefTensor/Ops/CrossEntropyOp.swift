/// Softmax cross-entropy with integer labels, averaged over the batch:
///
///     loss = (1/N) sum_n [ logsumexp(z_n) - z_n[label_n] ],  logsumexp(z) = max z + log sum exp(z - max z)
///     dz_n = (softmax(z_n) - onehot(label_n)) / N
public enum CrossEntropyOp {
    static func check<T: RefScalar>(_ logits: Tensor<T>, _ labels: [Int32]) throws {
        try logits.checkRank(2, op: "softmaxCrossEntropy", "logits [N, classes]")
        guard labels.count == logits.shape[0] else {
            throw TensorError.shapeMismatch(op: "softmaxCrossEntropy", expected: [logits.shape[0]], got: [labels.count],
                                            detail: "one label per row of logits \(logits.shape)")
        }
        guard logits.shape[0] > 0 else {
            throw TensorError.invalidShape(op: "softmaxCrossEntropy", shape: logits.shape, detail: "empty batch")
        }
        let classes = logits.shape[1]
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
            throw TensorError.invalidArgument(op: "softmaxCrossEntropy",
                                              detail: "label[\(bad)] = \(labels[bad]) is outside 0..<\(classes)")
        }
    }

    /// Returns the mean loss and the row-wise log-softmax (kept for the backward pass).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forward<T: RefScalar>(_ logits: Tensor<T>, labels: [Int32]) throws -> (loss: T, logSoftmax: Tensor<T>) {
        try check(logits, labels)
        let (n, k) = (logits.shape[0], logits.shape[1])
        var logp = logits
        var total: T = 0
        for i in 0..<n {
            let row = Array(logits.scalars[(i * k)..<((i + 1) * k)])
            let m = row.max()!
            var s: T = 0
            for v in row { s += T.exp(v - m) }
            let lse = m + T.log(s)
            for j in 0..<k { logp.scalars[i * k + j] = row[j] - lse }
            total += -logp.scalars[i * k + Int(labels[i])]
        }
        return (total / T(n), logp)
    }

    /// dlogits = g * (exp(logSoftmax) - onehot) / N
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func backward<T: RefScalar>(_ g: T, logSoftmax: Tensor<T>, labels: [Int32]) -> Tensor<T> {
        let (n, k) = (logSoftmax.shape[0], logSoftmax.shape[1])
        var d = logSoftmax
        let s = g / T(n)
        for i in 0..<n {
            for j in 0..<k {
                let p = T.exp(logSoftmax.scalars[i * k + j])
                d.scalars[i * k + j] = (p - (j == Int(labels[i]) ? 1 : 0)) * s
            }
        }
        return d
    }
}
