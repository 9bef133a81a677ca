import XCTest
import RefTensor
@testable import RefSAMCUDA

/// Every kernel, run on the CPU emulator (no GPU, no NVRTC), against the CPU reference's
/// op on awkward shapes (odd sizes, partial GEMM tiles, padding, strides), in float32 and
/// float64. These run in every build; the device step itself is checked in CUDAStepTests.
final class EmulatedKernelTests: XCTestCase {
    typealias Launch = @convention(c) (UnsafePointer<CChar>, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                                       UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32

    /// Launches `name_f32|f64` (or `name_<suffix>`) on the emulator; pointer arguments are
    /// host arrays.
    struct Emulator<T: RefScalar> {
        let launchFunction: Launch
        let lastError: @convention(c) () -> UnsafePointer<CChar>
        let suffix: String

        /// The stand-in's emulator, or the one in `library` (a library of planted kernels).
        init(library: UnsafeMutableRawPointer? = nil, suffix: String? = nil) throws {
            func symbol<F>(_ name: String, _: F.Type) throws -> F {
                guard let library else { return try CUDATestSupport.symbol(name, as: F.self) }
                guard let p = dlsym(library, name) else { throw CUDATestSupport.StandInError(message: "no \(name) in the library") }
                return unsafeBitCast(p, to: F.self)
            }
            launchFunction = try symbol("emu_launch", Launch.self)
            lastError = try symbol("emu_last_error", (@convention(c) () -> UnsafePointer<CChar>).self)
            self.suffix = suffix ?? (T.self == Float.self ? "f32" : "f64")
        }

        enum Arg { case buffer(UnsafeMutableRawPointer), null, int(Int), long(Int), real(Double), double(Double) }

        func launch(_ name: String, grid: (Int, Int) = (3, 1), block: (Int, Int) = (64, 1), _ args: [Arg]) throws {
            let slots = UnsafeMutableRawPointer.allocate(byteCount: args.count * 8, alignment: 8)
            defer { slots.deallocate() }
            var pointers = [UnsafeMutableRawPointer?]()
            for (i, a) in args.enumerated() {
                let s = slots + 8 * i
                switch a {
                case let .buffer(p): s.storeBytes(of: p, as: UnsafeMutableRawPointer.self)
                case .null: s.storeBytes(of: 0, as: Int.self)
                case let .int(v): s.storeBytes(of: Int32(v), as: Int32.self)
                case let .long(v): s.storeBytes(of: v, as: Int.self)
                case let .real(v): if T.self == Float.self { s.storeBytes(of: Float(v), as: Float.self) } else { s.storeBytes(of: v, as: Double.self) }
                case let .double(v): s.storeBytes(of: v, as: Double.self)
                }
                pointers.append(s)
            }
            let r = pointers.withUnsafeMutableBufferPointer {
                launchFunction("\(name)_\(suffix)", UInt32(grid.0), UInt32(grid.1), 1, UInt32(block.0), UInt32(block.1), 1, $0.baseAddress!)
            }
            guard r == 0 else { throw CUDATestSupport.StandInError(message: String(cString: lastError())) }
        }
    }

    /// Host memory handed to kernels (freed by the test's end).
    final class Buffers {
        var owned: [UnsafeMutableRawPointer] = []
        func of<T>(_ values: [T]) -> UnsafeMutableRawPointer {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(values.count, 1) * MemoryLayout<T>.stride, alignment: 16)
            values.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            owned.append(p)
            return p
        }
        func zeros<T: RefScalar>(_ n: Int, _: T.Type) -> UnsafeMutableRawPointer { of([T](repeating: .nan, count: n)) }
        func read<T>(_ p: UnsafeMutableRawPointer, _ n: Int, _: T.Type) -> [T] {
            Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: T.self), count: n))
        }
        deinit { owned.forEach { $0.deallocate() } }
    }

    /// float32: the kernels sum in another order than the CPU (or in float where the CPU
    /// uses double); float64 agrees to rounding.
    func tolerance<T: RefScalar>(_: T.Type) -> Double { T.self == Float.self ? 2e-5 : 1e-12 }

    func assertClose<T: RefScalar>(_ got: [T], _ want: [T], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let scale = max(want.map { abs(Double($0)) }.max() ?? 0, 1e-30)
        let err = zip(got, want).map { abs(Double($0) - Double($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(err, tolerance(T.self) * scale, "\(what) (\(T.self)): max error \(err) at scale \(scale)", file: file, line: line)
    }

    func random<T: RefScalar>(_ shape: [Int], _ seed: UInt64, _: T.Type = T.self) -> Tensor<T> {
        var r = RandomGenerator(seed: seed)
        return r.normalTensor(shape, std: 1)
    }

    // MARK: GEMM

    func checkGEMM<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        // Partial tiles on every side; every operand layout (row-major and transposed).
        for (m, n, k) in [(1, 1, 1), (17, 5, 33), (37, 23, 16), (16, 48, 7), (70, 130, 41)] {
            let a: Tensor<T> = random([m, k], 1), b: Tensor<T> = random([k, n], 2), c0: Tensor<T> = random([m, n], 3)
            var want = [T](repeating: 0, count: m * n)
            for i in 0..<m { for j in 0..<n { var s: T = 0; for l in 0..<k { s += a.scalars[i * k + l] * b.scalars[l * n + j] }; want[i * n + j] = s } }
            let at = (0..<(k * m)).map { a.scalars[($0 % m) * k + $0 / m] }      // A^T stored [k, m]
            let bt = (0..<(n * k)).map { b.scalars[($0 % k) * n + $0 / k] }      // B^T stored [n, k]
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let pa = mem.of(transA ? at : a.scalars), pb = mem.of(transB ? bt : b.scalars)
                for accumulate in [false, true] {
                    let pc = mem.of(c0.scalars)
                    try e.launch("gemm", grid: ((n + 63) / 64, (m + 63) / 64), block: (16, 16),
                                 [.int(m), .int(n), .int(k), .buffer(pa), .long(transA ? 1 : k), .long(transA ? m : 1),
                                  .buffer(pb), .long(transB ? 1 : n), .long(transB ? k : 1), .buffer(pc), .long(n), .int(accumulate ? 1 : 0)])
                    let expected = accumulate ? zip(want, c0.scalars).map { $0 + $1 } : want
                    assertClose(mem.read(pc, m * n, T.self), expected, "gemm \(m)x\(n)x\(k) transA \(transA) transB \(transB) acc \(accumulate)")
                }
            }
        }
    }
    func testGEMMFloat() throws { try checkGEMM(Float.self) }
    func testGEMMDouble() throws { try checkGEMM(Double.self) }

    // MARK: Convolution (im2col, GEMM, col2im)

    func checkConvolution<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        let cases: [([Int], (Int, Int), Int, (Int, Int), Padding)] = [
            ([2, 7, 5, 3], (3, 3), 4, (2, 2), .explicit(height: (1, 1), width: (1, 1))),
            ([1, 9, 9, 2], (7, 7), 3, (2, 2), .explicit(height: (3, 3), width: (3, 3))),
            ([3, 6, 6, 5], (3, 3), 2, (2, 2), .same),
            ([2, 5, 3, 4], (1, 1), 6, (2, 2), .valid),
        ]
        for (shape, window, outC, strides, padding) in cases {
            let g = try ConvGeometry(op: "test", input: shape, window: window, inChannels: shape[3], outChannels: outC, strides: strides, padding: padding)
            let x: Tensor<T> = random(shape, 4), w: Tensor<T> = random(g.kernelShape, 5), dy: Tensor<T> = random(g.outputShape, 6)
            let rows = g.batch * g.outH * g.outW
            let geo: [Emulator<T>.Arg] = [.int(g.batch), .int(g.inH), .int(g.inW), .int(g.inC), .int(g.kH), .int(g.kW), .int(g.strideH),
                                          .int(g.strideW), .int(g.padTop), .int(g.padLeft), .int(g.outH), .int(g.outW)]
            let px = mem.of(x.scalars), pw = mem.of(w.scalars), pdy = mem.of(dy.scalars)
            let col = mem.zeros(rows * g.patchSize, T.self), y = mem.zeros(rows * outC, T.self)
            try e.launch("im2col", [.buffer(px), .buffer(col)] + geo)
            try e.launch("gemm", grid: ((outC + 63) / 64, (rows + 63) / 64), block: (16, 16),
                         [.int(rows), .int(outC), .int(g.patchSize), .buffer(col), .long(g.patchSize), .long(1), .buffer(pw), .long(outC), .long(1),
                          .buffer(y), .long(outC), .int(0)])
            assertClose(mem.read(y, rows * outC, T.self), Conv2DKernels.forward(x, w, g).scalars, "conv forward \(shape) \(window) \(strides)")
            let dw = mem.zeros(g.patchSize * outC, T.self)
            try e.launch("gemm", grid: ((outC + 63) / 64, (g.patchSize + 63) / 64), block: (16, 16),
                         [.int(g.patchSize), .int(outC), .int(rows), .buffer(col), .long(1), .long(g.patchSize), .buffer(pdy), .long(outC), .long(1),
                          .buffer(dw), .long(outC), .int(0)])
            assertClose(mem.read(dw, g.patchSize * outC, T.self), Conv2DKernels.filterGradient(x, dy, g).scalars, "conv filter gradient \(shape)")
            let dcol = mem.zeros(rows * g.patchSize, T.self), dx = mem.zeros(x.count, T.self)
            try e.launch("gemm", grid: ((g.patchSize + 63) / 64, (rows + 63) / 64), block: (16, 16),
                         [.int(rows), .int(g.patchSize), .int(outC), .buffer(pdy), .long(outC), .long(1), .buffer(pw), .long(1), .long(outC),
                          .buffer(dcol), .long(g.patchSize), .int(0)])
            try e.launch("col2im", [.buffer(dcol), .buffer(dx)] + geo)
            assertClose(mem.read(dx, x.count, T.self), Conv2DKernels.inputGradient(dy, w, g).scalars, "conv input gradient \(shape)")
        }
    }
    func testConvolutionFloat() throws { try checkConvolution(Float.self) }
    func testConvolutionDouble() throws { try checkConvolution(Double.self) }

    // MARK: BatchNorm

    func checkBatchNorm<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        for (m, c) in [(1, 3), (37, 5), (600, 2)] {
            var x: Tensor<T> = random([m, c], 7)
            x = Tensor(shape: x.shape, scalars: x.scalars.map { $0 * 3 + 5 })          // a mean far from zero
            let scale: Tensor<T> = random([c], 8), bias: Tensor<T> = random([c], 9), dy: Tensor<T> = random([m, c], 10)
            let ref = try BatchNormOp.forwardTraining(x, scale: scale, bias: bias)
            let px = mem.of(x.scalars), mean = mem.zeros(c, T.self), variance = mem.zeros(c, T.self), inv = mem.of([Double](repeating: .nan, count: c))
            let chunk = 256, chunks = (m + chunk - 1) / chunk                 // several chunks at 600 rows
            let partial = mem.of([Double](repeating: .nan, count: 2 * chunks * c))
            for stage in 0..<2 {
                try e.launch("bn_partial_sums", [.buffer(px), .long(m), .int(c), .long(chunk), stage == 0 ? .null : .buffer(mean), .buffer(partial)])
                try e.launch("bn_finish_statistics", [.buffer(partial), .long(chunks), .long(m), .int(c), .double(1e-5), .int(stage),
                                                      .buffer(mean), .buffer(variance), .buffer(inv)])
            }
            assertClose(mem.read(mean, c, T.self), ref.mean.scalars, "bn mean \(m)x\(c)")
            assertClose(mem.read(variance, c, T.self), ref.variance.scalars, "bn var \(m)x\(c)")
            let y = mem.zeros(m * c, T.self)
            try e.launch("bn_apply", [.buffer(px), .buffer(y), .long(m), .int(c), .buffer(mean), .buffer(inv), .buffer(mem.of(scale.scalars)), .buffer(mem.of(bias.scalars))])
            assertClose(mem.read(y, m * c, T.self), ref.y.scalars, "bn forward \(m)x\(c)")
            let back = BatchNormOp.backward(dy, x: x, scale: scale, mean: ref.mean, invStd: ref.invStd, training: true)
            let sums = mem.of([Double](repeating: .nan, count: 2 * c)), ds = mem.zeros(c, T.self), db = mem.zeros(c, T.self), dx = mem.zeros(m * c, T.self)
            let pdy = mem.of(dy.scalars)
            try e.launch("bn_backward_partials", [.buffer(px), .buffer(pdy), .long(m), .int(c), .long(chunk), .buffer(mean), .buffer(inv), .buffer(partial)])
            try e.launch("bn_backward_finish", [.buffer(partial), .long(chunks), .int(c), .buffer(sums), .buffer(ds), .buffer(db)])
            try e.launch("bn_backward_dx", [.buffer(px), .buffer(pdy), .buffer(dx), .long(m), .int(c), .buffer(mean), .buffer(inv),
                                            .buffer(mem.of(scale.scalars)), .buffer(sums)])
            assertClose(mem.read(ds, c, T.self), back.dscale.scalars, "bn dscale \(m)x\(c)")
            assertClose(mem.read(db, c, T.self), back.dbias.scalars, "bn dbias \(m)x\(c)")
            assertClose(mem.read(dx, m * c, T.self), back.dx.scalars, "bn dx \(m)x\(c)")
        }
    }
    /// Shards sharing statistics (ResNet50 under sam_shards): per-shard scale and bias.
    func checkShardedBatchNorm<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        let (d, per, c) = (3, 7, 4), m = d * per
        let x: Tensor<T> = random([m, c], 21), dy: Tensor<T> = random([m, c], 22)
        let scales: [Tensor<T>] = (0..<d).map { random([c], 23 + UInt64($0)) }, biases: [Tensor<T>] = (0..<d).map { random([c], 30 + UInt64($0)) }
        let ref = try BatchNormOp.forwardTraining(x, scales: scales, biases: biases)
        let back = BatchNormOp.backward(dy, x: x, scales: scales, mean: ref.mean, invStd: ref.invStd)
        let px = mem.of(x.scalars), pdy = mem.of(dy.scalars), mean = mem.of(ref.mean.scalars), inv = mem.of(ref.invStd)
        let sums = mem.of([Double](repeating: .nan, count: 2 * c * d)), partial = mem.of([Double](repeating: .nan, count: 2 * c))
        let ds = mem.zeros(c * d, T.self), db = mem.zeros(c * d, T.self), y = mem.zeros(m * c, T.self)
        for k in 0..<d {
            let o = k * per * c * MemoryLayout<T>.stride
            try e.launch("bn_apply", [.buffer(px + o), .buffer(y + o), .long(per), .int(c), .buffer(mean), .buffer(inv),
                                      .buffer(mem.of(scales[k].scalars)), .buffer(mem.of(biases[k].scalars))])
            try e.launch("bn_backward_partials", [.buffer(px + o), .buffer(pdy + o), .long(per), .int(c), .long(per), .buffer(mean), .buffer(inv), .buffer(partial)])
            try e.launch("bn_backward_finish", [.buffer(partial), .long(1), .int(c), .buffer(sums + k * 2 * c * 8),
                                                .buffer(ds + k * c * MemoryLayout<T>.stride), .buffer(db + k * c * MemoryLayout<T>.stride)])
        }
        assertClose(mem.read(y, m * c, T.self), ref.y.scalars, "sharded bn forward")
        assertClose(mem.read(ds, c * d, T.self), back.dscales.flatMap(\.scalars), "sharded bn dscale")
        assertClose(mem.read(db, c * d, T.self), back.dbiases.flatMap(\.scalars), "sharded bn dbias")
        let allScales = mem.of(scales.flatMap(\.scalars)), ab = mem.of([Double](repeating: .nan, count: 2 * c)), dx = mem.zeros(m * c, T.self)
        try e.launch("bn_shard_terms", [.buffer(sums), .buffer(allScales), .int(d), .int(c), .buffer(ab)])
        try e.launch("bn_backward_dx_shards", [.buffer(px), .buffer(pdy), .buffer(dx), .long(m), .int(c), .long(per), .buffer(mean), .buffer(inv),
                                               .buffer(allScales), .buffer(ab)])
        assertClose(mem.read(dx, m * c, T.self), back.dx.scalars, "sharded bn dx")
    }
    func testShardedBatchNormFloat() throws { try checkShardedBatchNorm(Float.self) }
    func testShardedBatchNormDouble() throws { try checkShardedBatchNorm(Double.self) }

    func testBatchNormFloat() throws { try checkBatchNorm(Float.self) }
    func testBatchNormDouble() throws { try checkBatchNorm(Double.self) }

    // MARK: Pooling, loss, elementwise, optimizer

    func checkPoolingAndLoss<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        let x: Tensor<T> = random([2, 9, 7, 3], 11)
        // Max pool 3x3 stride 2 SAME (ResNet50's), with ties: every value rounded to a half.
        let tied = Tensor<T>(shape: x.shape, scalars: x.scalars.map { ($0 * 2).rounded() / 2 })
        let g = try ConvGeometry(op: "maxPool", input: x.shape, window: (3, 3), inChannels: 3, outChannels: 3, strides: (2, 2), padding: .same)
        let ref = try PoolOp.maxPool(tied, window: (3, 3), strides: (2, 2), padding: .same)
        let n = ref.y.count
        let y = mem.zeros(n, T.self), argmax = mem.of([Int32](repeating: -7, count: n)), px = mem.of(tied.scalars)
        let geo: [Emulator<T>.Arg] = [.int(2), .int(9), .int(7), .int(3), .int(3), .int(3), .int(2), .int(2), .int(g.padTop), .int(g.padLeft), .int(g.outH), .int(g.outW)]
        try e.launch("max_pool", [.buffer(px), .buffer(y), .buffer(argmax)] + geo)
        assertClose(mem.read(y, n, T.self), ref.y.scalars, "max pool")
        XCTAssertEqual(mem.read(argmax, n, Int32.self).map(Int.init), ref.argmax, "max pool argmax (first maximum wins ties)")
        let dy: Tensor<T> = random(ref.y.shape, 12), dx = mem.zeros(x.count, T.self)
        try e.launch("max_pool_backward", [.buffer(mem.of(dy.scalars)), .buffer(argmax), .buffer(dx)] + geo)
        assertClose(mem.read(dx, x.count, T.self), PoolOp.maxPoolBackward(dy, inputShape: x.shape, argmax: ref.argmax).scalars, "max pool backward")

        // Average pool 2x3 stride (2, 3) VALID, and the spatial mean.
        let avg = try PoolOp.avgPool(x, window: (2, 3), strides: (2, 3))
        let ga: [Emulator<T>.Arg] = [.int(2), .int(9), .int(7), .int(3), .int(2), .int(3), .int(2), .int(3), .int(avg.shape[1]), .int(avg.shape[2])]
        let ya = mem.zeros(avg.count, T.self), pxa = mem.of(x.scalars)
        try e.launch("avg_pool", [.buffer(pxa), .buffer(ya)] + ga)
        assertClose(mem.read(ya, avg.count, T.self), avg.scalars, "avg pool")
        let dya: Tensor<T> = random(avg.shape, 13), dxa = mem.zeros(x.count, T.self)
        try e.launch("avg_pool_backward", [.buffer(mem.of(dya.scalars)), .buffer(dxa)] + ga)
        assertClose(mem.read(dxa, x.count, T.self),
                    PoolOp.avgPoolBackward(dya, inputShape: x.shape, window: (2, 3), strides: (2, 3)).scalars, "avg pool backward")
        let mean = try ReduceOp.mean(x, axes: [1, 2]), ym = mem.zeros(6, T.self)
        try e.launch("spatial_mean", [.buffer(pxa), .buffer(ym), .int(2), .int(63), .int(3)])
        assertClose(mem.read(ym, 6, T.self), mean.scalars, "spatial mean")
        let dym: Tensor<T> = random([2, 3], 14), dxm = mem.zeros(x.count, T.self)
        try e.launch("spatial_mean_backward", [.buffer(mem.of(dym.scalars)), .buffer(dxm), .int(2), .int(63), .int(3)])
        assertClose(mem.read(dxm, x.count, T.self), ReduceOp.meanBackward(dym, inputShape: x.shape, axes: [1, 2]).scalars, "spatial mean backward")

        // Cross-entropy on 5 rows of 7 classes.
        let z: Tensor<T> = random([5, 7], 15), labels: [Int32] = [0, 6, 3, 3, 1]
        let ce = try CrossEntropyOp.forward(z, labels: labels)
        let pl = mem.of(labels), logp = mem.zeros(35, T.self), rows = mem.zeros(5, T.self), loss = mem.zeros(1, T.self), dz = mem.zeros(35, T.self)
        try e.launch("cross_entropy", [.buffer(mem.of(z.scalars)), .buffer(pl), .buffer(logp), .buffer(rows), .int(5), .int(7)])
        try e.launch("mean_of_rows", grid: (1, 1), block: (1, 1), [.buffer(rows), .buffer(loss), .int(5)])
        try e.launch("cross_entropy_backward", [.buffer(logp), .buffer(pl), .buffer(dz), .int(5), .int(7), .real(1)])
        assertClose(mem.read(loss, 1, T.self), [ce.loss], "cross-entropy loss")
        assertClose(mem.read(dz, 35, T.self), CrossEntropyOp.backward(1, logSoftmax: ce.logSoftmax, labels: labels).scalars, "cross-entropy gradient")
    }
    func testPoolingAndLossFloat() throws { try checkPoolingAndLoss(Float.self) }
    func testPoolingAndLossDouble() throws { try checkPoolingAndLoss(Double.self) }

    func checkElementwiseAndOptimizer<T: RefScalar>(_: T.Type) throws {
        let e = try Emulator<T>(), mem = Buffers()
        let n = 1031                                   // not a multiple of any block size
        let a: Tensor<T> = random([n], 16), b: Tensor<T> = random([n], 17), t: Tensor<T> = random([n], 18)
        let mask = (0..<n).map { T($0 % 3 == 0 ? 0 : 1) }
        let pa = mem.of(a.scalars), pb = mem.of(b.scalars), out = mem.zeros(n, T.self)
        try e.launch("add", [.buffer(pa), .buffer(pb), .buffer(out), .long(n)])
        assertClose(mem.read(out, n, T.self), zip(a.scalars, b.scalars).map { $0 + $1 }, "add")
        try e.launch("relu", [.buffer(pa), .buffer(out), .long(n)])
        assertClose(mem.read(out, n, T.self), ElementwiseOp.relu(a).scalars, "relu")
        try e.launch("relu_backward", [.buffer(pa), .buffer(pb), .buffer(out), .long(n)])
        assertClose(mem.read(out, n, T.self), ElementwiseOp.reluBackward(b, x: a).scalars, "relu backward")
        try e.launch("apply_mask", [.buffer(pa), .buffer(mem.of(mask)), .buffer(out), .long(n)])
        assertClose(mem.read(out, n, T.self), zip(a.scalars, mask).map { $0 * $1 }, "mask")
        try e.launch("divide", [.buffer(pa), .buffer(out), .real(3), .long(n)])
        assertClose(mem.read(out, n, T.self), a.scalars.map { $0 / 3 }, "divide")
        try e.launch("fill", [.buffer(out), .real(2.5), .long(n)])
        assertClose(mem.read(out, n, T.self), [T](repeating: 2.5, count: n), "fill")
        try e.launch("copy", [.buffer(pb), .buffer(out), .long(n)])
        assertClose(mem.read(out, n, T.self), b.scalars, "copy")

        // Dense bias and its gradient on a [rows, cols] matrix.
        let (rows, cols) = (29, 11)
        let m: Tensor<T> = random([rows, cols], 19), bias: Tensor<T> = random([cols], 20)
        let pm = mem.of(m.scalars), sums = mem.zeros(cols, T.self)
        try e.launch("column_sums", [.buffer(pm), .buffer(sums), .long(rows), .int(cols)])
        assertClose(mem.read(sums, cols, T.self), (0..<cols).map { j in (0..<rows).reduce(T(0)) { $0 + m.scalars[$1 * cols + j] } }, "column sums")
        try e.launch("add_bias", [.buffer(pm), .buffer(mem.of(bias.scalars)), .long(rows), .int(cols)])
        assertClose(mem.read(pm, rows * cols, T.self), (0..<(rows * cols)).map { m.scalars[$0] + bias.scalars[$0 % cols] }, "add bias")

        // The norm, SAM's ascent point, the momentum update, the running statistics.
        let partial = mem.of([Double](repeating: .nan, count: 5)), norm = mem.of([Double.nan]), denominator = mem.zeros(1, T.self)
        try e.launch("sum_of_squares", grid: (5, 1), block: (256, 1), [.buffer(pb), .long(n), .buffer(partial)])
        try e.launch("finish_norm", grid: (1, 1), block: (256, 1), [.buffer(partial), .int(5), .buffer(norm), .buffer(denominator)])
        let refNorm = OptimizerOp.sumOfSquares(b).squareRoot()
        XCTAssertEqual(mem.read(norm, 1, Double.self)[0], refNorm, accuracy: 1e-12 * refNorm, "global norm")
        try e.launch("ascent_point", [.buffer(pa), .buffer(pb), .buffer(out), .real(0.05), .buffer(denominator), .long(n)])
        assertClose(mem.read(out, n, T.self), OptimizerOp.ascentPoint(a, gradient: b, rho: T(0.05), denominator: T(refNorm) + T(1e-12)).scalars, "ascent point")
        let g2 = mem.zeros(n, T.self), t2 = mem.zeros(n, T.self), p2 = mem.zeros(n, T.self)
        try e.launch("momentum_update", [.buffer(pa), .buffer(mem.of(t.scalars)), .buffer(pb), .real(5e-4), .real(0.9), .real(0.1),
                                         .buffer(g2), .buffer(t2), .buffer(p2), .long(n)])
        let ref = OptimizerOp.momentumStep(param: a, trace: t, gradient: b, weightDecay: T(5e-4), momentum: T(0.9), learningRate: T(0.1))
        assertClose(mem.read(g2, n, T.self), ref.gradient.scalars, "momentum: gradient with weight decay")
        assertClose(mem.read(t2, n, T.self), ref.trace.scalars, "momentum: trace")
        assertClose(mem.read(p2, n, T.self), ref.param.scalars, "momentum: parameters")
        try e.launch("bn_running_update", [.buffer(pa), .buffer(pb), .buffer(out), .int(n), .real(0.9), .real(1 - 0.9)])
        assertClose(mem.read(out, n, T.self), zip(a.scalars, b.scalars).map { T(0.9) * $0 + T(1 - 0.9) * $1 }, "running statistics")
    }
    func testElementwiseAndOptimizerFloat() throws { try checkElementwiseAndOptimizer(Float.self) }
    func testElementwiseAndOptimizerDouble() throws { try checkElementwiseAndOptimizer(Double.self) }

    /// The emulator knows exactly the kernels the files define, in both types.
    func testEmulatorRegistersEveryKernel() throws {
        let count = try CUDATestSupport.symbol("emu_kernel_count", as: (@convention(c) () -> Int32).self)
        let name = try CUDATestSupport.symbol("emu_kernel_name", as: (@convention(c) (Int32) -> UnsafePointer<CChar>).self)
        let registered = Set((0..<count()).map { String(cString: name($0)) })
        let defined = Set(CUDAKernelSource.kernelNames.flatMap { ["\($0)_f32", "\($0)_f64"] })
        XCTAssertEqual(registered, defined, "Tests/CUDAEmulator/kernel_list.h lists every KERNEL(...) in Sources/RefSAMCUDA/Kernels")
    }
}
