/// Eigenvalues and eigenvectors of a small symmetric matrix by cyclic Jacobi rotations:
/// each rotation zeroes one off-diagonal entry; sweeps repeat until the off-diagonal
/// mass is below 1e-15 of the matrix's (or 100 sweeps). Quadratic convergence, and
/// accurate to a few ulps of the largest eigenvalue; meant for the m x m tridiagonal
/// matrices of Lanczos (m <= a few hundred) and for tests.
public enum SymmetricEigen {
    /// Eigenvalues ascending, and `vectors[k]` the unit eigenvector of `values[k]`.
    public static func decompose(_ matrix: [[Double]]) -> (values: [Double], vectors: [[Double]]) {
        let n = matrix.count
        var a = matrix
        var v = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }   // columns accumulate the rotations
        func offDiagonal() -> Double {
            var s = 0.0
            for i in 0..<n { for j in 0..<n where i != j { s += a[i][j] * a[i][j] } }
            return s
        }
        var total = 0.0
        for row in a { for x in row { total += x * x } }
        for _ in 0..<100 {
            if offDiagonal() <= 1e-30 * max(total, 1e-300) { break }
            for p in 0..<n {
                for q in (p + 1)..<max(n, p + 1) where a[p][q] != 0 {
                    // The rotation angle that zeroes a[p][q] (Golub & Van Loan, sym.schur2).
                    let tau = (a[q][q] - a[p][p]) / (2 * a[p][q])
                    let t = (tau >= 0 ? 1 : -1) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k][p], akq = a[k][q]
                        a[k][p] = c * akp - s * akq
                        a[k][q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p][k], aqk = a[q][k]
                        a[p][k] = c * apk - s * aqk
                        a[q][k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k][p], vkq = v[k][q]
                        v[k][p] = c * vkp - s * vkq
                        v[k][q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0][$0] < a[$1][$1] }
        return (order.map { a[$0][$0] }, order.map { j in (0..<n).map { v[$0][j] } })
    }
}
