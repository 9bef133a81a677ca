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

    /// Calls `body(input, output)` for every input element in row-major order with the
    /// flat index of its output element: what `outputIndex` gives, by carrying
    /// coordinates like an odometer instead of a division and a remainder per axis and
    /// element (tested equal).
    static func forEachOutputIndex(shape: [Int], axes: Set<Int>, _ body: (_ input: Int, _ output: Int) -> Void) {
        let r = shape.count, total = shape.reduce(1, *)
        guard total > 0 else { return }
        guard r > 0 else { body(0, 0); return }
        var outStride = [Int](repeating: 0, count: r)
        var acc = 1
        for i in stride(from: r - 1, through: 0, by: -1) where !axes.contains(i) { outStride[i] = acc; acc *= shape[i] }
        let inner = shape[r - 1], innerStride = outStride[r - 1]
        var coord = [Int](repeating: 0, count: r), base = 0, flat = 0
        for _ in 0..<(total / inner) {
            for j in 0..<inner { body(flat &+ j, base &+ j &* innerStride) }
            flat &+= inner
            var d = r - 2
            while d >= 0 {
                coord[d] += 1; base &+= outStride[d]
                if coord[d] < shape[d] { break }
                base &-= shape[d] &* outStride[d]; coord[d] = 0; d -= 1
            }
        }
    }

    /// y = mean of x over `axes`; sums run over input elements in row-major order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func mean<T: RefScalar>(_ x: Tensor<T>, axes: [Int]) throws -> Tensor<T> {
        let p = try plan(shape: x.shape, axes: axes)
        var y = Tensor<T>.zeros(p.outShape)
        x.scalars.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableScalars { yp in forEachOutputIndex(shape: x.shape, axes: p.axes) { i, o in yp[o] += xp[i] } }
        }
        let inv = 1 / T(p.reduced)
        y.withUnsafeMutableScalars { yp in for i in 0..<yp.count { yp[i] *= inv } }
        return y
    }

    /// dx[i] = dy[out(i)] / (number of reduced elements)
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public static func meanBackward<T: RefScalar>(_ dy: Tensor<T>, inputShape: [Int], axes: [Int]) -> Tensor<T> {
        let p = try! plan(shape: inputShape, axes: axes)
        let inv = 1 / T(p.reduced)
        var dx = Tensor<T>.zeros(inputShape)
        dy.scalars.withUnsafeBufferPointer { dyp in
            dx.withUnsafeMutableScalars { dxp in forEachOutputIndex(shape: inputShape, axes: p.axes) { i, o in dxp[i] = dyp[o] * inv } }
        }
        return dx
    }
}
