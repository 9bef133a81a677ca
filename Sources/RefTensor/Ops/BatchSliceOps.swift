/// Rows of the batch axis: taking a contiguous run of examples and putting runs back
/// together. Used to give each shard of a batch its own copy of the parameters
/// (SAM's m-sharpness with statistics shared across shards, `Tape.shardedBatchNorm`).
///
///     slice:  y = x[start ..< start + count]          dx = dy placed at those rows, zeros elsewhere
///     concat: y = [x_0; x_1; ...] along axis 0        dx_k = the rows of dy that came from x_k
///
/// Both copy values and never round, so they are exact.
public enum BatchSliceOp {
    /// x[start ..< start + count] along the first axis.
    public static func slice<T: RefScalar>(_ x: Tensor<T>, start: Int, count: Int) throws -> Tensor<T> {
        guard let n = x.shape.first else {
            throw TensorError.invalidShape(op: "sliceBatch", shape: x.shape, detail: "needs a batch axis")
        }
        guard start >= 0, count >= 0, start + count <= n else {
            throw TensorError.invalidArgument(op: "sliceBatch", detail: "rows \(start)..<\(start + count) outside a batch of \(n)")
        }
        let per = x.count / max(n, 1)
        return Tensor(shape: [count] + x.shape.dropFirst(), scalars: Array(x.scalars[(start * per)..<((start + count) * per)]))
    }

    /// The gradient of `slice`: `dy` at rows `start...` of zeros of `inputShape`.
    public static func sliceBackward<T: RefScalar>(_ dy: Tensor<T>, inputShape: [Int], start: Int) -> Tensor<T> {
        var dx = Tensor<T>.zeros(inputShape)
        let offset = start * (dy.shape.first.map { dy.count / max($0, 1) } ?? 0)
        dx.withUnsafeMutableScalars { out in
            dy.scalars.withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[offset + i] = src[i] }
            }
        }
        return dx
    }

    /// The tensors stacked along the first axis; every other axis must agree.
    public static func concat<T: RefScalar>(_ xs: [Tensor<T>]) throws -> Tensor<T> {
        guard let first = xs.first, !first.shape.isEmpty else {
            throw TensorError.invalidArgument(op: "concatBatch", detail: "needs at least one tensor with a batch axis")
        }
        let rest = Array(first.shape.dropFirst())
        var rows = 0
        for x in xs {
            guard !x.shape.isEmpty, Array(x.shape.dropFirst()) == rest else {
                throw TensorError.shapeMismatch(op: "concatBatch", expected: [x.shape.first ?? 0] + rest, got: x.shape,
                                                 detail: "every part must agree with the first on all but the batch axis")
            }
            rows += x.shape[0]
        }
        return Tensor(shape: [rows] + rest, scalars: xs.flatMap(\.scalars))
    }
}
