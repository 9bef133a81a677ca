/// Spatial padding of a convolution or pooling window.
public enum Padding: Equatable, Sendable {
    /// No padding.
    case valid
    /// Flax/XLA `SAME`: out = ceil(in / stride), total = max(0, (out - 1) * stride + k - in),
    /// `total / 2` on the low side and the rest (the extra pixel) on the high side.
    case same
    /// Explicit (low, high) padding for height and width.
    case explicit(height: (low: Int, high: Int), width: (low: Int, high: Int))

    /// Equal cases with equal amounts (tuples keep `Padding` from synthesising this).
    public static func == (l: Padding, r: Padding) -> Bool {
        switch (l, r) {
        case (.valid, .valid), (.same, .same): return true
        case let (.explicit(h1, w1), .explicit(h2, w2)):
            return h1 == h2 && w1 == w2
        default: return false
        }
    }

    /// A spatial axis of an NHWC tensor.
    public enum Axis: Sendable { case height, width }

    /// (low, high) padding of `axis`, for an input of `input` pixels along it.
    public func amounts(_ axis: Axis, input: Int, window: Int, stride: Int) -> (low: Int, high: Int) {
        switch self {
        case .valid: return (0, 0)
        case .same:
            let out = (input + stride - 1) / stride
            let total = max(0, (out - 1) * stride + window - input)
            return (total / 2, total - total / 2)
        case let .explicit(h, w): return axis == .height ? h : w
        }
    }
}

/// Every size of a 2-D convolution (or pooling window) over NHWC input with an
/// HWIO kernel, checked once so kernels can trust it.
public struct ConvGeometry: Equatable, Sendable {
    /// Input: images, height, width, channels.
    public var batch, inH, inW, inC: Int
    /// Window height and width, output channels.
    public var kH, kW, outC: Int
    /// Strides along height and width.
    public var strideH, strideW: Int
    /// Zero padding on each side, in pixels.
    public var padTop, padBottom, padLeft, padRight: Int
    /// Output height and width.
    public var outH, outW: Int

    /// Rows of the im2col matrix per image, and its width.
    public var pixelsPerImage: Int { outH * outW }
    /// Terms in one output value: kh * kw * C (the GEMM's k).
    public var patchSize: Int { kH * kW * inC }

    /// - Throws: `TensorError` naming the op and shapes when input and kernel do not fit.
    public init(op: String, input: [Int], window: (h: Int, w: Int), inChannels: Int, outChannels: Int,
                strides: (Int, Int), padding: Padding) throws {
        guard input.count == 4 else {
            throw TensorError.invalidShape(op: op, shape: input, detail: "input must be NHWC (rank 4)")
        }
        guard strides.0 >= 1, strides.1 >= 1 else {
            throw TensorError.invalidArgument(op: op, detail: "strides must be >= 1, got \(strides)")
        }
        guard window.h >= 1, window.w >= 1 else {
            throw TensorError.invalidArgument(op: op, detail: "window must be >= 1, got \(window)")
        }
        (batch, inH, inW, inC) = (input[0], input[1], input[2], input[3])
        guard inC == inChannels else {
            throw TensorError.shapeMismatch(op: op, expected: [batch, inH, inW, inChannels], got: input,
                                            detail: "input channels must match the kernel's in-channels")
        }
        (kH, kW, outC) = (window.h, window.w, outChannels)
        (strideH, strideW) = strides
        switch padding {
        case .valid: (padTop, padBottom, padLeft, padRight) = (0, 0, 0, 0)
        case .same:
            (padTop, padBottom) = padding.amounts(.height, input: inH, window: kH, stride: strideH)
            (padLeft, padRight) = padding.amounts(.width, input: inW, window: kW, stride: strideW)
        case let .explicit(h, w):
            guard h.low >= 0, h.high >= 0, w.low >= 0, w.high >= 0 else {
                throw TensorError.invalidArgument(op: op, detail: "padding must be >= 0, got \(h), \(w)")
            }
            (padTop, padBottom, padLeft, padRight) = (h.low, h.high, w.low, w.high)
        }
        let spanH = inH + padTop + padBottom - kH, spanW = inW + padLeft + padRight - kW
        guard spanH >= 0, spanW >= 0 else {
            throw TensorError.invalidShape(op: op, shape: input,
                                           detail: "window \(kH)x\(kW) is larger than the padded input")
        }
        outH = spanH / strideH + 1
        outW = spanW / strideW + 1
    }

    /// [N, OH, OW, O].
    public var outputShape: [Int] { [batch, outH, outW, outC] }
    /// [N, H, W, C].
    public var inputShape: [Int] { [batch, inH, inW, inC] }
    /// [kh, kw, C, O] (HWIO).
    public var kernelShape: [Int] { [kH, kW, inC, outC] }
    /// True when the convolution is a plain matrix product over pixels.
    public var isPointwise: Bool {
        kH == 1 && kW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padBottom == 0 && padLeft == 0 && padRight == 0
    }
}
