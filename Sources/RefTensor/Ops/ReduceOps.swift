/// Mean over a set of axes (the axes are removed from the shape).
public enum ReduceOp {
    /// Validates `axes` (negative counts from the end) and returns the output shape,
    /// the number of elements averaged, and the axes as a set.
    static func plan(shape: [Int], axes: [Int]) throws -> (outShape: [Int], reduced: Int, axes: Set<Int>) {
        var set = Set<Int>()
        for a in axes {
            let axis = a < 0 ? a + shape.count : a
            guard axis >= 0 && axis < shape.count else {
                throw TensorError.invalidArgument(op: "mean", detail: "axis \(a) out of range for shape \(shape)")
            }
            guard set.insert(axis).inserted else {
                throw TensorError.invalidArgument(op: "mean", detail: "axis \(a) given twice")
            }
        }
        let out = shape.enumerated().filter { !set.contains($0.offset) }.map { $0.element }
        let reduced = shape.enumerated().filter { set.contains($0.offset) }.map { $0.element }.reduce(1, *)
        guard reduced > 0 else { throw TensorError.invalidShape(op: "mean", shape: shape, detail: "mean over an empty axis") }
        return (out, reduced, set)
    }

    /// For each input element (row-major), the flat index of its output element.
    static func outputIndex(shape: [Int], axes: Set<Int>) -> (Int) -> Int {
        var outStride = [Int](repeating: 0, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where !axes.contains(i) {
            outStride[i] = acc; acc *= shape[i]
        }
        return { flat in
            var rem = flat, o = 0
            for i in stride(from: shape.count - 1, through: 0, by: -1) {
                let coord = rem % shape[i]; rem /= shape[i]
                o += coord * outStride[i]
            }
            return o
        }
    }

    /// y = mean of x over `axes`; sums run over input elements in row-major order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func mean<T: RefScalar>(_ x: Tensor<T>, axes: [Int]) throws -> Tensor<T> {
        let p = try plan(shape: x.shape, axes: axes)
        var y = Tensor<T>.zeros(p.outShape)
        let map = outputIndex(shape: x.shape, axes: p.axes)
        for i in 0..<x.count { y.scalars[map(i)] += x.scalars[i] }
        let inv = 1 / T(p.reduced)
        for i in 0..<y.count { y.scalars[i] *= inv }
        return y
    }

    /// dx[i] = dy[out(i)] / (number of reduced elements)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func meanBackward<T: RefScalar>(_ dy: Tensor<T>, inputShape: [Int], axes: [Int]) -> Tensor<T> {
        let p = try! plan(shape: inputShape, axes: axes)
        let map = outputIndex(shape: inputShape, axes: p.axes)
        let inv = 1 / T(p.reduced)
        var dx = Tensor<T>.zeros(inputShape)
        for i in 0..<dx.count { dx.scalars[i] = dy.scalars[map(i)] * inv }
        return dx
    }
}
