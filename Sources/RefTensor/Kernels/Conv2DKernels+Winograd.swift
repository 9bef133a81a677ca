/// Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, "Fast Algorithms
/// for Convolutional Neural Networks", 2016): each 2x2 block of outputs ("tile") from
/// 16 products per (input, output) channel pair instead of 36.
///
///     forward:          Y_tile  = A^T [ U ⊙ V ] A,         U = G w G^T,  V = B^T d B
///     filter gradient:  dw      = G^T [ sum over tiles V ⊙ Z ] G,        Z = A dY_tile A^T
///
/// with d the tile's 4x4 input window (zero outside x), and
///
///     B^T = [1  0 -1  0]     G = [1    0    0  ]     A^T = [1  1  1  0]
///           [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
///           [0 -1  1  0]         [1/2 -1/2  1/2]
///           [0  1  0 -1]         [0    0    1  ]
///
/// The ⊙ sums over channels are 16 GEMMs, one per position of the 4x4 transformed
/// tile: M_e[tiles, O] = V_e[tiles, C] @ U_e[C, O] (forward), and
/// dW_e[C, O] = V_e^T @ Z_e (filter gradient, over all tiles). The filter gradient is
/// the forward's exact adjoint: <A^T[U ⊙ V]A, dY> = <U ⊙ V, A dY A^T> = <w, G^T[V ⊙ Z]G>.
/// The input gradient of a stride-1 convolution is itself one (`transposedGeometry`),
/// so it runs here too.
///
/// Rounding: the same sums as the direct convolution, in another order and through
/// the transforms, so results differ from `forwardNaive` by rounding only, a few times
/// the direct kernel's error (measured in `WinogradTests`). U and the final G^T M G are
/// computed in Double. That is why only the native build (`-DREF_FMA`, already not
/// bit-identical to the naive definitions) uses it by default; the portable build
/// keeps the direct kernels and its bit-exactness.
///
/// Determinism: a tile's outputs depend only on its own GEMM rows (forward); the
/// filter gradient sums tiles block by block in order, each position's GEMM on one
/// thread. So no result depends on the thread count.
extension Conv2DKernels {
    #if REF_FMA
    /// Whether `winograd` starts on: in the native build (`-DREF_FMA`).
    public static let winogradByDefault = true
    #else
    /// Whether `winograd` starts on: off in the portable build (bit-exact direct kernels).
    public static let winogradByDefault = false
    #endif
    /// Whether 3x3 stride-1 convolutions (with at least `winogradMinChannels` input and
    /// output channels) run as Winograd F(2x2, 3x3). Set it between computations only.
    nonisolated(unsafe) public static var winograd = winogradByDefault
    /// Fewer input or output channels than this make the 16 GEMMs too thin to repay the
    /// transforms: at 16 channels Winograd and direct took the same time, at 8 Winograd
    /// took 1.5-3.5x as long, at 32 0.5-0.9x (`ref-run bench conv`, batch 128, 32x32 and
    /// 16x16 images, AVX2 with FMA, 2 threads). Tests lower it to reach small cases.
    nonisolated(unsafe) static var winogradMinChannels = 32

    static func runsWinograd(_ g: ConvGeometry) -> Bool {
        winograd && g.kH == 3 && g.kW == 3 && g.strideH == 1 && g.strideW == 1 && g.batch > 0
            && g.outH > 0 && g.outW > 0 && g.inC >= winogradMinChannels && g.outC >= winogradMinChannels
    }

    /// y = conv2d(x, w) as Winograd F(2x2, 3x3): tiles in blocks (one task each: its
    /// transforms and 16 GEMMs stay in the worker's L2-sized scratch).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func winogradForward<T: RefScalar>(_ x: Tensor<T>, _ w: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        let tiling = WinogradTiling(g), C = g.inC, O = g.outC
        // U_e packed once in the GEMM's B layout: every block's GEMM reads it in place.
        let u = winogradKernel(w, g)
        let packedU = (0..<16).map { e in UnsafePointer(Gemm.packB(StridedMatrix.rowMajor(u + e * C * O, columns: O), k: C, n: O)) }
        u.deallocate()
        defer { for p in packedU { p.deallocate() } }
        var y = Tensor<T>(shape: g.outputShape) { _ in }     // every output lies in one tile
        let perBlock = tiling.tilesPerBlock(channels: C + O, budget: columnBudget)
        let blocks = (tiling.count + perBlock - 1) / perBlock
        let workers = Threads.workers(for: blocks), scratchSize = 16 * perBlock * (C + O)
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: workers * scratchSize + C)
        defer { scratch.deallocate() }
        let zeros = scratch + workers * scratchSize
        zeros.initialize(repeating: 0, count: C)
        x.scalars.withUnsafeBufferPointer { xp in
        y.scalars.withUnsafeMutableBufferPointer { yp in
            Threads.parallelFor(blocks, workers: workers) { b, worker in
                let t0 = b * perBlock, n = min(perBlock, tiling.count - t0)
                let v = scratch + worker * scratchSize, m = v + 16 * n * C
                tiling.transformInput(xp.baseAddress!, zeros: zeros, tiles: t0..<(t0 + n), into: v)
                for e in 0..<16 {
                    Gemm.fast(m: n, n: O, k: C, lhs: StridedMatrix.rowMajor(v + e * n * C, columns: C),
                              b: .rowMajor(packedU[e], columns: O), c: m + e * n * O, ldc: O, accumulate: false, serial: true,
                              packedB: packedU[e])
                }
                tiling.transformOutput(m, tiles: t0..<(t0 + n), into: yp.baseAddress!)
            }
        } }
        return y
    }

    /// dw from x and dy as Winograd F(2x2, 3x3): blocks of tiles in order; within a
    /// block the transforms run in parallel, then the 16 GEMMs (one task each).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    static func winogradFilterGradient<T: RefScalar>(_ x: Tensor<T>, _ dy: Tensor<T>, _ g: ConvGeometry) -> Tensor<T> {
        let tiling = WinogradTiling(g), C = g.inC, O = g.outC
        let perBlock = tiling.tilesPerBlock(channels: C + O, budget: 4 * columnBudget)
        let products = UnsafeMutablePointer<T>.allocate(capacity: 16 * C * O)
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: 16 * perBlock * (C + O) + max(C, O))
        defer { products.deallocate(); scratch.deallocate() }
        let zeros = scratch + 16 * perBlock * (C + O)
        zeros.initialize(repeating: 0, count: max(C, O))
        x.scalars.withUnsafeBufferPointer { xp in
        dy.scalars.withUnsafeBufferPointer { dyp in
            var t0 = 0
            while t0 < tiling.count {
                let n = min(perBlock, tiling.count - t0)
                let v = scratch, z = scratch + 16 * n * C
                let chunk = 32, chunks = (n + chunk - 1) / chunk
                Threads.parallelFor(chunks) { i, _ in
                    let r = (t0 + i * chunk)..<(t0 + min(n, (i + 1) * chunk))
                    tiling.transformInput(xp.baseAddress!, zeros: zeros, tiles: r, into: v, block: t0, blockSize: n)
                    tiling.transformOutputGradient(dyp.baseAddress!, zeros: zeros, tiles: r, into: z, block: t0, blockSize: n)
                }
                let first = t0 == 0
                Threads.parallelFor(16) { e, _ in
                    Gemm.fast(m: C, n: O, k: n, lhs: StridedMatrix.transposed(v + e * n * C, columns: C),
                              b: .rowMajor(z + e * n * O, columns: O), c: products + e * C * O, ldc: O,
                              accumulate: !first, serial: true)
                }
                t0 += n
            }
        } }
        return winogradFilterFromProducts(products, g)
    }
}
