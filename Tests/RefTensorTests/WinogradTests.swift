import XCTest
@testable import RefTensor

/// Winograd F(2x2, 3x3) against the direct-loop definitions: exact algebra (Double at
/// 1e-12), its Float error against the direct kernel's, and results that no block
/// size or thread count changes.
final class WinogradTests: XCTestCase {
    /// (input NHWC, kernel HWIO, padding): odd output sizes (tiles past the edge), VALID,
    /// asymmetric padding, channel counts that are not multiples of eight.
    static let cases: [([Int], [Int], Padding)] = [
        ([2, 7, 7, 8], [3, 3, 8, 8], .same),
        ([1, 8, 6, 16], [3, 3, 16, 24], .same),
        ([2, 9, 6, 9], [3, 3, 9, 17], .valid),
        ([1, 5, 8, 12], [3, 3, 12, 8], .explicit(height: (2, 1), width: (0, 2))),
        ([3, 4, 4, 32], [3, 3, 32, 16], .same),
        ([1, 3, 3, 8], [3, 3, 8, 8], .valid),                            // one output: one tile, 3 of 4 outputs dropped
    ]

    override func setUp() { Conv2DKernels.winograd = true; Conv2DKernels.winogradMinChannels = 8 }
    override func tearDown() { Conv2DKernels.winograd = Conv2DKernels.winogradByDefault; Conv2DKernels.winogradMinChannels = 32 }

    func geometry(_ c: ([Int], [Int], Padding)) throws -> ConvGeometry {
        try Conv2DOp.geometry(input: c.0, kernel: c.1, strides: (1, 1), padding: c.2)
    }

    /// In Double the transforms' rounding is far below 1e-12: this checks the algebra
    /// (transforms, tile edges, padding) of all three passes.
    func testMatchesTheDefinitionInDouble() throws {
        for (i, c) in Self.cases.enumerated() {
            let g = try geometry(c)
            XCTAssertTrue(Conv2DKernels.runsWinograd(g), "case \(i) takes the Winograd path")
            let x: Tensor<Double> = randomTensor(g.inputShape, seed: UInt64(40 + i))
            let w: Tensor<Double> = randomTensor(g.kernelShape, seed: UInt64(50 + i))
            let dy: Tensor<Double> = randomTensor(g.outputShape, seed: UInt64(60 + i))
            assertClose(Conv2DKernels.forward(x, w, g), Conv2DKernels.forwardNaive(x, w, g), rtol: 1e-12, atol: 1e-13, "case \(i) forward")
            assertClose(Conv2DKernels.inputGradient(dy, w, g), Conv2DKernels.inputGradientNaive(dy, w, g),
                        rtol: 1e-12, atol: 1e-13, "case \(i) input gradient")
            assertClose(Conv2DKernels.filterGradient(x, dy, g), Conv2DKernels.filterGradientNaive(x, dy, g),
                        rtol: 1e-12, atol: 1e-13, "case \(i) filter gradient")
        }
    }

    /// Float error, against the Double definition, scaled by each output's sum of
    /// |products| (the natural bound of any summation order): Winograd's worst case is
    /// at most 2x the direct kernel's on the same data. The transforms add a few
    /// roundings per term, but each GEMM sums over C terms instead of 9C, so here it
    /// measured 0.5-0.9x the direct kernel's (portable build); Lavin & Gray report
    /// F(2x2, 3x3) errors of the same order as direct convolution.
    func testFloatErrorIsOfTheDirectKernelsOrder() throws {
        let g = try Conv2DOp.geometry(input: [2, 8, 8, 48], kernel: [3, 3, 48, 48], strides: (1, 1), padding: .same)
        let x: Tensor<Float> = randomTensor(g.inputShape, seed: 7), w: Tensor<Float> = randomTensor(g.kernelShape, seed: 8)
        let dy: Tensor<Float> = randomTensor(g.outputShape, seed: 9)
        func wide(_ t: Tensor<Float>) -> Tensor<Double> { Tensor(shape: t.shape, scalars: t.scalars.map(Double.init)) }
        func absolute(_ t: Tensor<Double>) -> Tensor<Double> { Tensor(shape: t.shape, scalars: t.scalars.map(abs)) }
        func worst(_ f: Tensor<Float>, _ exact: Tensor<Double>, _ scale: Tensor<Double>) -> Double {
            zip(zip(f.scalars, exact.scalars), scale.scalars).map { abs(Double($0.0) - $0.1) / max($1, 1e-30) }.max()!
        }
        let passes: [(String, (Bool) -> Tensor<Float>, Tensor<Double>, Tensor<Double>)] = [
            ("forward", { on in Conv2DKernels.winograd = on; return Conv2DKernels.forward(x, w, g) },
             Conv2DKernels.forwardNaive(wide(x), wide(w), g), Conv2DKernels.forwardNaive(absolute(wide(x)), absolute(wide(w)), g)),
            ("input gradient", { on in Conv2DKernels.winograd = on; return Conv2DKernels.inputGradient(dy, w, g) },
             Conv2DKernels.inputGradientNaive(wide(dy), wide(w), g), Conv2DKernels.inputGradientNaive(absolute(wide(dy)), absolute(wide(w)), g)),
            ("filter gradient", { on in Conv2DKernels.winograd = on; return Conv2DKernels.filterGradient(x, dy, g) },
             Conv2DKernels.filterGradientNaive(wide(x), wide(dy), g), Conv2DKernels.filterGradientNaive(absolute(wide(x)), absolute(wide(dy)), g)),
        ]
        for (name, run, exact, scale) in passes {
            let winograd = worst(run(true), exact, scale), direct = worst(run(false), exact, scale)
            print("Winograd \(name): worst |error| / sum |products| \(winograd), direct \(direct), ratio \(winograd / direct)")
            XCTAssertLessThanOrEqual(winograd, 2 * direct, "\(name): Winograd \(winograd) vs direct \(direct)")
        }
    }

    /// Blocks of tiles and threads change who computes what, never a bit.
    func testBlocksAndThreadsDoNotChangeBits() throws {
        let g = try Conv2DOp.geometry(input: [3, 11, 9, 16], kernel: [3, 3, 16, 24], strides: (1, 1), padding: .same)
        let x: Tensor<Float> = randomTensor(g.inputShape, seed: 1), w: Tensor<Float> = randomTensor(g.kernelShape, seed: 2)
        let dy: Tensor<Float> = randomTensor(g.outputShape, seed: 3)
        func all() -> [[UInt64]] {
            [bits(Conv2DKernels.forward(x, w, g)), bits(Conv2DKernels.inputGradient(dy, w, g)), bits(Conv2DKernels.filterGradient(x, dy, g))]
        }
        let reference = withThreads(1, all)
        for threads in [2, 5] { XCTAssertEqual(reference, withThreads(threads, all), "1 thread vs \(threads)") }
        let saved = Conv2DKernels.columnBudget
        Conv2DKernels.columnBudget = 1     // blocks of one row tile (8 or 6 tiles)
        defer { Conv2DKernels.columnBudget = saved }
        XCTAssertEqual(WinogradTiling(g).tilesPerBlock(channels: 40, budget: Conv2DKernels.columnBudget), Gemm.mr)
        XCTAssertEqual(reference, withThreads(2, all), "small blocks")
    }

    /// The paths it does not take: strides, other windows, too few channels, or off.
    func testRunsOnlyWhereItApplies() throws {
        func runs(_ xs: [Int], _ ws: [Int], _ s: Int) throws -> Bool {
            Conv2DKernels.runsWinograd(try Conv2DOp.geometry(input: xs, kernel: ws, strides: (s, s), padding: .same))
        }
        XCTAssertTrue(try runs([1, 8, 8, 8], [3, 3, 8, 8], 1))
        XCTAssertFalse(try runs([1, 8, 8, 8], [3, 3, 8, 8], 2))
        XCTAssertFalse(try runs([1, 8, 8, 8], [1, 1, 8, 8], 1))
        XCTAssertFalse(try runs([1, 8, 8, 3], [3, 3, 3, 8], 1))
        Conv2DKernels.winogradMinChannels = 32
        XCTAssertFalse(try runs([1, 8, 8, 16], [3, 3, 16, 32], 1))
        XCTAssertTrue(try runs([1, 8, 8, 32], [3, 3, 32, 32], 1))
        Conv2DKernels.winograd = false
        XCTAssertFalse(try runs([1, 8, 8, 8], [3, 3, 8, 8], 1))
    }
}
