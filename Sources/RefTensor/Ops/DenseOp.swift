/// Dense layer, Flax layout: y = x @ W + b with W as [in, out].
public enum DenseOp {
    /// x: [N, in], w: [in, out], b: [out] or nil  ->  y: [N, out]
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func forward<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ b: Tensor<T>?) throws -> Tensor<T> {
        try x.checkRank(2, op: "dense", "input")
        try w.checkRank(2, op: "dense", "kernel")
        let (n, inF, outF) = (x.shape[0], x.shape[1], w.shape[1])
        guard w.shape[0] == inF else {
            throw TensorError.shapeMismatch(op: "dense", expected: [inF, outF], got: w.shape,
                                            detail: "kernel rows must equal input features (input \(x.shape))")
        }
        if let b { try b.checkShape([outF], op: "dense", "bias") }
        var y = x.scalars.withUnsafeBufferPointer { xp in w.scalars.withUnsafeBufferPointer { wp in
            Tensor<T>(shape: [n, outF]) { yp in     // GEMM writes every element
                Gemm.fast(m: n, n: outF, k: inF, a: .rowMajor(xp.baseAddress!, columns: inF),
                          b: .rowMajor(wp.baseAddress!, columns: outF), c: yp.baseAddress!, ldc: outF, accumulate: false)
            }
        } }
        if let b { addRowVector(&y, b) }
        return y
    }

    /// dy: [N, out] -> dx = dy @ W^T [N, in] (when `inputGradient`), dW = x^T @ dy [in, out], db = sum_rows dy [out].
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func backward<T: RefScalar>(_ dy: Tensor<T>, x: Tensor<T>, w: Tensor<T>, inputGradient: Bool = true)
        -> (dx: Tensor<T>?, dw: Tensor<T>, db: Tensor<T>) {
        let (n, inF, outF) = (x.shape[0], x.shape[1], w.shape[1])
        var dx: Tensor<T>? = nil
        var dw = Tensor<T>.zeros([0])
        dy.scalars.withUnsafeBufferPointer { dyp in
            if inputGradient {
                dx = w.scalars.withUnsafeBufferPointer { wp in
                    Tensor<T>(shape: [n, inF]) { dxp in
                        Gemm.fast(m: n, n: inF, k: outF, a: .rowMajor(dyp.baseAddress!, columns: outF),
                                  b: .transposed(wp.baseAddress!, columns: outF), c: dxp.baseAddress!, ldc: inF, accumulate: false)
                    }
                }
            }
            dw = x.scalars.withUnsafeBufferPointer { xp in
                Tensor<T>(shape: [inF, outF]) { dwp in
                    Gemm.fast(m: inF, n: outF, k: n, a: .transposed(xp.baseAddress!, columns: inF),
                              b: .rowMajor(dyp.baseAddress!, columns: outF), c: dwp.baseAddress!, ldc: outF, accumulate: false)
                }
            }
        }
        return (dx, dw, sumRows(dy))
    }

    /// y[i, j] += b[j]
    static func addRowVector<T: RefScalar>(_ y: inout Tensor<T>, _ b: Tensor<T>) {
        let cols = b.count
        b.scalars.withUnsafeBufferPointer { bp in y.scalars.withUnsafeMutableBufferPointer { yp in
            for i in 0..<(yp.count / max(cols, 1)) {
                let row = yp.baseAddress! + i * cols
                for j in 0..<cols { row[j] += bp[j] }
            }
        } }
    }

    /// s[j] = sum_i m[i, j], rows summed top to bottom.
    static func sumRows<T: RefScalar>(_ m: Tensor<T>) -> Tensor<T> {
        let cols = m.shape[m.rank - 1]
        var s = Tensor<T>.zeros([cols])
        m.scalars.withUnsafeBufferPointer { mp in s.scalars.withUnsafeMutableBufferPointer { sp in
            for i in 0..<(mp.count / max(cols, 1)) {
                let row = mp.baseAddress! + i * cols
                for j in 0..<cols { sp[j] += row[j] }
            }
        } }
        return s
    }
}
