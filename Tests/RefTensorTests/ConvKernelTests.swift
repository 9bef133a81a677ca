import XCTest
@testable import RefTensor

/// The fast conv kernels against the direct-loop definitions, and SAME padding
/// against the formula of the Flax/XLA convention.
final class ConvKernelTests: XCTestCase {
    /// (input NHWC, kernel HWIO, strides, padding) covering 1x1/3x3/7x7, stride 1 and 2,
    /// SAME (symmetric and asymmetric), explicit asymmetric, VALID and awkward sizes.
    static let cases: [([Int], [Int], (Int, Int), Padding)] = [
        ([2, 7, 7, 3], [3, 3, 3, 5], (1, 1), .same),
        ([2, 8, 8, 3], [3, 3, 3, 4], (2, 2), .same),                   // SAME, extra pixel on the high side
        ([1, 13, 13, 7], [7, 7, 7, 2], (2, 2), .explicit(height: (3, 3), width: (3, 3))),
        ([3, 5, 6, 13], [1, 1, 13, 7], (1, 1), .valid),                // pointwise: no im2col
        ([2, 9, 9, 4], [1, 1, 4, 8], (2, 2), .valid),                  // projection shortcut
        ([1, 6, 5, 2], [3, 2, 2, 3], (1, 2), .explicit(height: (1, 2), width: (0, 1))),
        ([1, 1, 1, 1], [1, 1, 1, 1], (1, 1), .valid),
        ([2, 4, 4, 129], [3, 3, 129, 1], (1, 1), .same),
        // Stride 1: the input gradient runs as a convolution with the flipped kernel...
        ([1, 5, 6, 2], [3, 2, 2, 3], (1, 1), .explicit(height: (2, 0), width: (1, 1))),
        // ...unless the padding reaches past the kernel (then im2col^T and col2im).
        ([1, 4, 4, 2], [1, 1, 2, 3], (1, 1), .explicit(height: (1, 1), width: (0, 0))),
    ]

    func checkAgainstNaive<T: RefScalar>(_: T.Type) throws {
        let tol = kernelTolerance(T.self)
        for (i, (xs, ws, strides, padding)) in Self.cases.enumerated() {
            let g = try Conv2DOp.geometry(input: xs, kernel: ws, strides: strides, padding: padding)
            let x: Tensor<T> = randomTensor(xs, seed: UInt64(10 + i))
            let w: Tensor<T> = randomTensor(ws, seed: UInt64(20 + i))
            let dy: Tensor<T> = randomTensor(g.outputShape, seed: UInt64(30 + i))
            assertClose(Conv2DKernels.forward(x, w, g), Conv2DKernels.forwardNaive(x, w, g),
                        rtol: tol.rtol, atol: tol.atol, "\(T.self) case \(i) forward")
            assertClose(Conv2DKernels.inputGradient(dy, w, g), Conv2DKernels.inputGradientNaive(dy, w, g),
                        rtol: tol.rtol, atol: tol.atol, "\(T.self) case \(i) input gradient")
            assertClose(Conv2DKernels.filterGradient(x, dy, g), Conv2DKernels.filterGradientNaive(x, dy, g),
                        rtol: tol.rtol, atol: tol.atol, "\(T.self) case \(i) filter gradient")
        }
    }

    func testFastMatchesNaiveFloat() throws { try checkAgainstNaive(Float.self) }
    func testFastMatchesNaiveDouble() throws { try checkAgainstNaive(Double.self) }

    /// Grouping images for im2col changes memory, never bits: one image per group
    /// gives exactly what one group for the whole batch gives.
    func testImageGroupingDoesNotChangeBits() throws {
        let g = try Conv2DOp.geometry(input: [5, 9, 9, 6], kernel: [3, 3, 6, 8], strides: (1, 1), padding: .same)
        let x: Tensor<Float> = randomTensor(g.inputShape, seed: 1)
        let w: Tensor<Float> = randomTensor(g.kernelShape, seed: 3)
        let dy: Tensor<Float> = randomTensor(g.outputShape, seed: 2)
        func all() -> [[UInt64]] {
            [bits(Conv2DKernels.forward(x, w, g)), bits(Conv2DKernels.inputGradient(dy, w, g)),
             bits(Conv2DKernels.filterGradient(x, dy, g))]
        }
        let whole = all()
        let saved = Conv2DKernels.columnBudget
        Conv2DKernels.columnBudget = 11 * 11 * 6   // one padded image (9 + 2 border) per group
        defer { Conv2DKernels.columnBudget = saved }
        XCTAssertEqual(Conv2DKernels.imagesPerGroup(g), 1)
        XCTAssertEqual(Conv2DKernels.paddedImagesPerGroup(g), 1)
        XCTAssertEqual(whole, all())
    }

    func testSamePaddingFollowsTheFlaxFormula() throws {
        // out = ceil(in / s); total = max(0, (out - 1) s + k - in); low = total / 2.
        for (input, k, s, out, low, high) in [(7, 3, 2, 4, 1, 1), (8, 3, 2, 4, 0, 1), (32, 7, 2, 16, 2, 3),
                                              (16, 3, 1, 16, 1, 1), (5, 1, 2, 3, 0, 0), (4, 3, 2, 2, 0, 1)] {
            let g = try ConvGeometry(op: "t", input: [1, input, input, 1], window: (k, k), inChannels: 1, outChannels: 1,
                                     strides: (s, s), padding: .same)
            XCTAssertEqual([g.outH, g.padTop, g.padBottom], [out, low, high], "in \(input) k \(k) s \(s)")
        }
    }

    func testThreadCountDoesNotChangeBits() throws {
        let g = try Conv2DOp.geometry(input: [4, 12, 12, 8], kernel: [3, 3, 8, 16], strides: (2, 2), padding: .same)
        let x: Tensor<Float> = randomTensor(g.inputShape, seed: 5)
        let w: Tensor<Float> = randomTensor(g.kernelShape, seed: 6)
        let dy: Tensor<Float> = randomTensor(g.outputShape, seed: 7)
        func all() -> [[UInt64]] {
            [bits(Conv2DKernels.forward(x, w, g)), bits(Conv2DKernels.inputGradient(dy, w, g)),
             bits(Conv2DKernels.filterGradient(x, dy, g))]
        }
        let one = withThreads(1, all)
        for threads in [2, 5] { XCTAssertEqual(one, withThreads(threads, all), "1 thread vs \(threads)") }
    }

    func testMismatchedChannelsNameBothShapes() {
        XCTAssertThrowsError(try Conv2DOp.geometry(input: [1, 5, 5, 3], kernel: [3, 3, 4, 2], strides: (1, 1), padding: .same)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("[1, 5, 5, 3]") && text.contains("conv2d"), text)
        }
        XCTAssertThrowsError(try Conv2DOp.geometry(input: [1, 5, 5, 3], kernel: [3, 3, 3, 2], strides: (0, 1), padding: .same))
        XCTAssertThrowsError(try Conv2DOp.geometry(input: [1, 2, 2, 3], kernel: [5, 5, 3, 2], strides: (1, 1), padding: .valid))
    }
}
