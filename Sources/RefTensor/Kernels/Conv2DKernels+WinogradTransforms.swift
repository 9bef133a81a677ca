/// The transforms of Winograd F(2x2, 3x3) (see Conv2DKernels+Winograd.swift), eight
/// channels at a time: each tile's 4x4 values are 16 vectors of eight channels.
///
/// Transformed tiles are stored position-major, as the GEMMs read them: position e
/// (= 4 * row + column of the 4x4 tile) of tile t of a block of `blockSize` tiles at
/// `buffer + e * blockSize * channels + (t - block) * channels`.

/// Tile (n, i, j) covers outputs y[n, 2i..<2i+2, 2j..<2j+2, :] (those that exist) and
/// reads the 4x4 window of x at rows 2i - padTop ..< 2i - padTop + 4 and columns
/// 2j - padLeft ..< 2j - padLeft + 4, zero outside x. Tiles are numbered image by
/// image, row by row.
struct WinogradTiling {
    let g: ConvGeometry
    /// Tiles per image down and across: ceil(outH / 2), ceil(outW / 2).
    let rows: Int, cols: Int

    init(_ g: ConvGeometry) {
        self.g = g
        rows = (g.outH + 1) / 2
        cols = (g.outW + 1) / 2
    }

    var count: Int { g.batch * rows * cols }

    /// Tile t's image and tile row and column.
    @inline(__always) func origin(_ t: Int) -> (n: Int, i: Int, j: Int) {
        let perImage = rows * cols, r = t % perImage
        return (t / perImage, r / cols, r % cols)
    }

    /// Tiles per block such that 16 transformed tiles of `channels` values fit in
    /// `budget` elements: a multiple of the GEMM's row tile, at least one row tile.
    func tilesPerBlock(channels: Int, budget: Int) -> Int {
        max(Gemm.mr, budget / max(1, 16 * channels) / Gemm.mr * Gemm.mr)
    }

    /// V = B^T d B for `tiles` (d: each tile's input window), into `v` as a block that
    /// starts at tile `block` and holds `blockSize` tiles.
    func transformInput<T: RefScalar>(_ x: UnsafePointer<T>, zeros: UnsafePointer<T>, tiles: Range<Int>,
                                      into v: UnsafeMutablePointer<T>, block: Int? = nil, blockSize: Int? = nil) {
        let C = g.inC, plane = (blockSize ?? tiles.count) * C, first = block ?? tiles.lowerBound
        withUnsafeTemporaryAllocation(of: UnsafePointer<T>.self, capacity: 16) { src in
            for t in tiles {
                let (n, i, j) = origin(t)
                let h0 = 2 * i - g.padTop, w0 = 2 * j - g.padLeft
                for r in 0..<4 { for s in 0..<4 {
                    let h = h0 + r, w = w0 + s
                    let inside = h >= 0 && h < g.inH && w >= 0 && w < g.inW
                    src[4 * r + s] = inside ? x + ((n * g.inH + h) * g.inW + w) * C : zeros
                } }
                let out = v + (t - first) * C
                var c = 0
                while c + 8 <= C {
                    // Rows 1 and 2 feed three of B^T d's rows: they are loaded first, and each
                    // row of B^T d is stored as soon as it is made (fewer live registers).
                    func row(_ r: Int) -> Quad<T> { Quad(lanes(src[4 * r] + c), lanes(src[4 * r + 1] + c), lanes(src[4 * r + 2] + c), lanes(src[4 * r + 3] + c)) }
                    let d1 = row(1), d2 = row(2)
                    (d1 + d2).inputTransformed.store(out + 4 * plane + c, stride: plane)
                    (d2 - d1).inputTransformed.store(out + 8 * plane + c, stride: plane)
                    (row(0) - d2).inputTransformed.store(out + c, stride: plane)
                    (d1 - row(3)).inputTransformed.store(out + 12 * plane + c, stride: plane)
                    c += 8
                }
                while c < C {
                    let width = min(8, C - c)
                    let d0 = Quad(load8(src[0] + c, width), load8(src[1] + c, width), load8(src[2] + c, width), load8(src[3] + c, width))
                    let d1 = Quad(load8(src[4] + c, width), load8(src[5] + c, width), load8(src[6] + c, width), load8(src[7] + c, width))
                    let d2 = Quad(load8(src[8] + c, width), load8(src[9] + c, width), load8(src[10] + c, width), load8(src[11] + c, width))
                    let d3 = Quad(load8(src[12] + c, width), load8(src[13] + c, width), load8(src[14] + c, width), load8(src[15] + c, width))
                    // B^T d: rows; then (B^T d) B: columns.
                    (d0 - d2).inputTransformed.store(out + c, stride: plane, width: width)
                    (d1 + d2).inputTransformed.store(out + 4 * plane + c, stride: plane, width: width)
                    (d2 - d1).inputTransformed.store(out + 8 * plane + c, stride: plane, width: width)
                    (d1 - d3).inputTransformed.store(out + 12 * plane + c, stride: plane, width: width)
                    c += 8
                }
            }
        }
    }

    /// y_tile = A^T M A for `tiles`, from the GEMMs' block `m` (exactly these tiles);
    /// outputs past the edge of y are dropped.
    func transformOutput<T: RefScalar>(_ m: UnsafePointer<T>, tiles: Range<Int>, into y: UnsafeMutablePointer<T>) {
        let O = g.outC, plane = tiles.count * O
        for t in tiles {
            let (n, i, j) = origin(t)
            let live = (rows: min(2, g.outH - 2 * i), cols: min(2, g.outW - 2 * j))
            let src = m + (t - tiles.lowerBound) * O
            let dst = y + ((n * g.outH + 2 * i) * g.outW + 2 * j) * O
            var o = 0
            if live.rows == 2 && live.cols == 2 {
                while o + 8 <= O {
                    let r0 = Quad(at: src + o, stride: plane) + Quad(at: src + 4 * plane + o, stride: plane)
                        + Quad(at: src + 8 * plane + o, stride: plane)
                    let r1 = Quad(at: src + 4 * plane + o, stride: plane) - Quad(at: src + 8 * plane + o, stride: plane)
                        - Quad(at: src + 12 * plane + o, stride: plane)
                    storeLanes(r0.a + r0.b + r0.c, dst + o)
                    storeLanes(r0.b - r0.c - r0.d, dst + O + o)
                    storeLanes(r1.a + r1.b + r1.c, dst + g.outW * O + o)
                    storeLanes(r1.b - r1.c - r1.d, dst + (g.outW + 1) * O + o)
                    o += 8
                }
            }
            while o < O {
                let width = min(8, O - o)
                let m0 = Quad(at: src + o, stride: plane, width: width)
                let m1 = Quad(at: src + 4 * plane + o, stride: plane, width: width)
                let m2 = Quad(at: src + 8 * plane + o, stride: plane, width: width)
                let m3 = Quad(at: src + 12 * plane + o, stride: plane, width: width)
                // A^T M: rows; then (A^T M) A: columns.
                let r0 = m0 + m1 + m2, r1 = m1 - m2 - m3
                store8(r0.a + r0.b + r0.c, dst + o, width)
                if live.cols > 1 { store8(r0.b - r0.c - r0.d, dst + O + o, width) }
                if live.rows > 1 {
                    store8(r1.a + r1.b + r1.c, dst + g.outW * O + o, width)
                    if live.cols > 1 { store8(r1.b - r1.c - r1.d, dst + (g.outW + 1) * O + o, width) }
                }
                o += 8
            }
        }
    }

    /// Z = A dY A^T for `tiles` (dY: each tile's 2x2 outputs, zero past the edge), into
    /// `z` as a block that starts at tile `block` and holds `blockSize` tiles.
    func transformOutputGradient<T: RefScalar>(_ dy: UnsafePointer<T>, zeros: UnsafePointer<T>, tiles: Range<Int>,
                                               into z: UnsafeMutablePointer<T>, block: Int, blockSize: Int) {
        let O = g.outC, plane = blockSize * O
        for t in tiles {
            let (n, i, j) = origin(t)
            func at(_ r: Int, _ s: Int) -> UnsafePointer<T> {
                2 * i + r < g.outH && 2 * j + s < g.outW ? dy + ((n * g.outH + 2 * i + r) * g.outW + 2 * j + s) * O : zeros
            }
            let p00 = at(0, 0), p01 = at(0, 1), p10 = at(1, 0), p11 = at(1, 1)
            let out = z + (t - block) * O
            var o = 0
            while o + 8 <= O {
                let q0 = Quad(gradientRow: lanes(p00 + o), lanes(p01 + o)), q1 = Quad(gradientRow: lanes(p10 + o), lanes(p11 + o))
                q0.store(out + o, stride: plane)
                (q0 + q1).store(out + 4 * plane + o, stride: plane)
                (q0 - q1).store(out + 8 * plane + o, stride: plane)
                (Quad(zero: ()) - q1).store(out + 12 * plane + o, stride: plane)
                o += 8
            }
            while o < O {
                let width = min(8, O - o)
                // A dY: each row (y0, y1) -> (y0, y0 + y1, y0 - y1, -y1); then the same down the columns.
                let q0 = Quad(gradientRow: load8(p00 + o, width), load8(p01 + o, width))
                let q1 = Quad(gradientRow: load8(p10 + o, width), load8(p11 + o, width))
                q0.store(out + o, stride: plane, width: width)
                (q0 + q1).store(out + 4 * plane + o, stride: plane, width: width)
                (q0 - q1).store(out + 8 * plane + o, stride: plane, width: width)
                (Quad(zero: ()) - q1).store(out + 12 * plane + o, stride: plane, width: width)
                o += 8
            }
        }
    }
}

extension Conv2DKernels {
    /// U_e[c, o] = (G w[:, :, c, o] G^T)[e], e = 4 * row + column, computed in Double
    /// and rounded once; a fresh buffer of 16 * C * O the caller deallocates.
    static func winogradKernel<T: RefScalar>(_ w: Tensor<T>, _ g: ConvGeometry) -> UnsafeMutablePointer<T> {
        let C = g.inC, O = g.outC, plane = C * O
        let u = UnsafeMutablePointer<T>.allocate(capacity: 16 * plane)
        w.scalars.withUnsafeBufferPointer { wp in
            let wb = wp.baseAddress!
            forEachLanePair(C, O) { at, width in
                func tap(_ kh: Int, _ kw: Int) -> SIMD8<Double> { widened(load8(wb + (kh * 3 + kw) * plane + at, width)) }
                // G w: each column of taps -> four rows; then each row -> four columns (the same map).
                let c0 = Quad(applyingG: tap(0, 0), tap(1, 0), tap(2, 0))
                let c1 = Quad(applyingG: tap(0, 1), tap(1, 1), tap(2, 1))
                let c2 = Quad(applyingG: tap(0, 2), tap(1, 2), tap(2, 2))
                Quad(applyingG: c0.a, c1.a, c2.a).narrowed(to: T.self).store(u + at, stride: plane, width: width)
                Quad(applyingG: c0.b, c1.b, c2.b).narrowed(to: T.self).store(u + 4 * plane + at, stride: plane, width: width)
                Quad(applyingG: c0.c, c1.c, c2.c).narrowed(to: T.self).store(u + 8 * plane + at, stride: plane, width: width)
                Quad(applyingG: c0.d, c1.d, c2.d).narrowed(to: T.self).store(u + 12 * plane + at, stride: plane, width: width)
            }
        }
        return u
    }

    /// dw[kh, kw, c, o] = (G^T M G)[kh, kw] from the summed products M_e[c, o], in Double.
    static func winogradFilterFromProducts<T: RefScalar>(_ m: UnsafePointer<T>, _ g: ConvGeometry) -> Tensor<T> {
        let C = g.inC, O = g.outC, plane = C * O
        return Tensor(shape: g.kernelShape) { dw in
            let base = dw.baseAddress!
            forEachLanePair(C, O) { at, width in
                func row(_ r: Int) -> Quad<Double> { Quad(at: m + 4 * r * plane + at, stride: plane, width: width).widened }
                let m0 = row(0), m1 = row(1), m2 = row(2), m3 = row(3)
                // G^T M: down the rows; then each of its three rows times G: across.
                let half = SIMD8<Double>(repeating: 0.5)
                let q0 = m0 + (m1 + m2).scaled(half), q1 = (m1 - m2).scaled(half), q2 = (m1 + m2).scaled(half) + m3
                func emit(_ kh: Int, _ r: Quad<Double>) {
                    let out = base + kh * 3 * plane + at
                    store8(narrowed(r.a + (r.b + r.c) * half, to: T.self), out, width)
                    store8(narrowed((r.b - r.c) * half, to: T.self), out + plane, width)
                    store8(narrowed((r.b + r.c) * half + r.d, to: T.self), out + 2 * plane, width)
                }
                emit(0, q0); emit(1, q1); emit(2, q2)
            }
        }
    }

    /// Calls `body(c * O + o, width)` for every input channel c and every run of up to
    /// eight output channels o..<o+width of a [C, O] plane, channels shared out in chunks.
    static func forEachLanePair(_ C: Int, _ O: Int, _ body: (_ at: Int, _ width: Int) -> Void) {
        Threads.forEachChunk(C, size: 16) { channels in
            for c in channels {
                var o = 0
                while o < O { body(c * O + o, min(8, O - o)); o += 8 }
            }
        }
    }
}

/// Four vectors: one row (or column) of a 4x4 tile, eight channels per vector.
struct Quad<S: RefScalar> {
    typealias V = SIMD8<S>
    var a, b, c, d: V

    @inline(__always) init(_ a: V, _ b: V, _ c: V, _ d: V) { self.a = a; self.b = b; self.c = c; self.d = d }
    @inline(__always) init(zero: ()) { self.init(V(), V(), V(), V()) }
    /// A row of the output-gradient transform: (y0, y1) -> (y0, y0 + y1, y0 - y1, -y1).
    @inline(__always) init(gradientRow y0: V, _ y1: V) { self.init(y0, y0 + y1, y0 - y1, V() - y1) }
    /// G times three taps: (t0, (t0 + t1 + t2)/2, (t0 - t1 + t2)/2, t2).
    @inline(__always) init(applyingG t0: V, _ t1: V, _ t2: V) {
        let half = V(repeating: 0.5)
        self.init(t0, (t0 + t1 + t2) * half, (t0 - t1 + t2) * half, t2)
    }
    /// Four vectors `stride` apart from `p` (the first `width` lanes of each).
    @inline(__always) init(at p: UnsafePointer<S>, stride: Int, width: Int) {
        self.init(load8(p, width), load8(p + stride, width), load8(p + 2 * stride, width), load8(p + 3 * stride, width))
    }

    /// The row's input transform (its product with B): (a - c, b + c, c - b, b - d).
    @inline(__always) var inputTransformed: Quad { Quad(a - c, b + c, c - b, b - d) }

    @inline(__always) static func + (l: Quad, r: Quad) -> Quad { Quad(l.a + r.a, l.b + r.b, l.c + r.c, l.d + r.d) }
    @inline(__always) static func - (l: Quad, r: Quad) -> Quad { Quad(l.a - r.a, l.b - r.b, l.c - r.c, l.d - r.d) }
    @inline(__always) func scaled(_ s: V) -> Quad { Quad(a * s, b * s, c * s, d * s) }

    /// Lane by lane exact in Double.
    @inline(__always) var widened: Quad<Double> {
        Quad<Double>(RefTensor.widened(a), RefTensor.widened(b), RefTensor.widened(c), RefTensor.widened(d))
    }

    /// Four full vectors `stride` apart from `p`.
    @inline(__always) init(at p: UnsafePointer<S>, stride: Int) {
        self.init(lanes(p), lanes(p + stride), lanes(p + 2 * stride), lanes(p + 3 * stride))
    }

    /// Stores the four full vectors `stride` apart from `p`.
    @inline(__always) func store(_ p: UnsafeMutablePointer<S>, stride: Int) {
        storeLanes(a, p); storeLanes(b, p + stride); storeLanes(c, p + 2 * stride); storeLanes(d, p + 3 * stride)
    }

    /// Stores the four vectors `stride` apart from `p` (the first `width` lanes of each).
    @inline(__always) func store(_ p: UnsafeMutablePointer<S>, stride: Int, width: Int) {
        store8(a, p, width); store8(b, p + stride, width); store8(c, p + 2 * stride, width); store8(d, p + 3 * stride, width)
    }
}

extension Quad where S == Double {
    /// Lane by lane rounded to `T`.
    @inline(__always) func narrowed<T: RefScalar>(to _: T.Type) -> Quad<T> {
        Quad<T>(RefTensor.narrowed(a, to: T.self), RefTensor.narrowed(b, to: T.self),
                RefTensor.narrowed(c, to: T.self), RefTensor.narrowed(d, to: T.self))
    }
}

/// The first `width` (<= 8) values at `p`, zero in the other lanes.
@inline(__always)
func load8<T: RefScalar>(_ p: UnsafePointer<T>, _ width: Int) -> SIMD8<T> {
    if width == 8 { return lanes(p) }
    var v = SIMD8<T>()
    for i in 0..<width { v[i] = p[i] }
    return v
}

/// Stores the first `width` (<= 8) lanes of `v` at `p`.
@inline(__always)
func store8<T: RefScalar>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>, _ width: Int) {
    if width == 8 { storeLanes(v, p); return }
    for i in 0..<width { p[i] = v[i] }
}
