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
}
