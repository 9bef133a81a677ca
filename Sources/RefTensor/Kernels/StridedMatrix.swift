/// A matrix operand seen through strides: element (i, p) is `base[i * rowStride + p * colStride]`.
/// A transposed operand is the same memory with the strides swapped, so no kernel
/// ever needs a transposed copy.
public struct StridedMatrix<T> {
    /// Element (0, 0).
    public var base: UnsafePointer<T>
    /// Distance in elements between rows.
    public var rowStride: Int
    /// Distance in elements between columns.
    public var colStride: Int

    /// The matrix at `base` with element (i, p) at `base[i * rowStride + p * colStride]`.
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
