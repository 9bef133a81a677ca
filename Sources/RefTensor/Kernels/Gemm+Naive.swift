/// A matrix operand seen through strides: element (i, p) is `base[i * rowStride + p * colStride]`.
/// A transposed operand is the same memory with the strides swapped, so no kernel
/// ever needs a transposed copy.
public struct StridedMatrix<T> {
    public var base: UnsafePointer<T>
    public var rowStride: Int
    public var colStride: Int

    @inlinable public init(_ base: UnsafePointer<T>, rowStride: Int, colStride: Int) {
        self.base = base; self.rowStride = rowStride; self.colStride = colStride
    }
    /// A row-major matrix with `columns` columns.
    @inlinable public static func rowMajor(_ base: UnsafePointer<T>, columns: Int) -> Self {
        .init(base, rowStride: columns, colStride: 1)
    }
    /// The transpose of a row-major matrix with `columns` columns.
    @inlinable public static func transposed(_ base: UnsafePointer<T>, columns: Int) -> Self {
        .init(base, rowStride: 1, colStride: columns)
    }
    @inlinable subscript(i: Int, p: Int) -> T { base[i * rowStride + p * colStride] }
}

public enum Gemm {
    /// The definition of GEMM, as plainly as it can be written:
    ///
    ///     C[i, j] = (accumulate ? C[i, j] : 0) + sum_{p = 0..<k} A[i, p] * B[p, j]
    ///
    /// the sum taken left to right, one rounded multiply and one rounded add per
    /// term. C is row-major with leading dimension `ldc`; A is m x k, B is k x n.
    public static func naive<T: RefScalar>(
        m: Int, n: Int, k: Int,
        a: StridedMatrix<T>, b: StridedMatrix<T>,
        c: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc: T = accumulate ? c[i * ldc + j] : 0
                for p in 0..<k {
                    let product = a[i, p] * b[p, j]
                    acc = acc + product
                }
                c[i * ldc + j] = acc
            }
        }
    }
}
