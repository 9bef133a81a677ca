/// The definition every fast GEMM path is tested against.
extension Gemm {
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
