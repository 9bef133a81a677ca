/// Conv2D without bias, Flax layout: x NHWC, kernel HWIO, cross-correlation.
public enum Conv2DOp {
    /// Checks `x` [N, H, W, C] against `w` [kh, kw, C, O] and returns the geometry.
    public static func geometry(input: [Int], kernel: [Int], strides: (Int, Int), padding: Padding) throws -> ConvGeometry {
        guard kernel.count == 4 else {
            throw TensorError.invalidShape(op: "conv2d", shape: kernel, detail: "kernel must be HWIO (rank 4)")
        }
        return try ConvGeometry(op: "conv2d", input: input, window: (kernel[0], kernel[1]),
                                inChannels: kernel[2], outChannels: kernel[3], strides: strides, padding: padding)
    }

    /// x: [N, H, W, C], w: [kh, kw, C, O] -> y: [N, OH, OW, O]
    public static func forward<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, strides: (Int, Int), padding: Padding) throws -> Tensor<T> {
        let g = try geometry(input: x.shape, kernel: w.shape, strides: strides, padding: padding)
        return Conv2DKernels.forward(x, w, g)
    }
}
