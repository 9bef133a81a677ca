import Foundation
import XCTest
@testable import RefSAM

/// The sharpness measures against the exact Hessian of a small MLP.
///
/// The exact Hessian comes from hyper-dual numbers (a + b e1 + c e2 + d e1e2 with
/// e1^2 = e2^2 = 0): evaluating the loss with e1 on weight i and e2 on weight j gives
/// d = d^2 L / dw_i dw_j with no truncation error, by a forward pass written here from
/// docs/PARAM_TREES.md (Dense = x W + b, ReLU, softmax cross-entropy), independent of the
/// tape. ReLU's second derivative is 0 away from its kink, as for the difference
/// quotients (no pre-activation here is within 1e-3 of 0).
final class HessianTests: XCTestCase {
    /// a + b e1 + c e2 + d e1 e2.
    struct HyperDual {
        var a = 0.0, b = 0.0, c = 0.0, d = 0.0
        static func + (x: Self, y: Self) -> Self { Self(a: x.a + y.a, b: x.b + y.b, c: x.c + y.c, d: x.d + y.d) }
        static func - (x: Self, y: Self) -> Self { Self(a: x.a - y.a, b: x.b - y.b, c: x.c - y.c, d: x.d - y.d) }
        static func * (x: Self, y: Self) -> Self {
            Self(a: x.a * y.a, b: x.a * y.b + x.b * y.a, c: x.a * y.c + x.c * y.a, d: x.a * y.d + x.b * y.c + x.c * y.b + x.d * y.a)
        }
        /// f(x) for f with f(a), f'(a), f''(a) given.
        func apply(_ f0: Double, _ f1: Double, _ f2: Double) -> Self {
            Self(a: f0, b: f1 * b, c: f1 * c, d: f1 * d + f2 * b * c)
        }
        func exp() -> Self { let e = Foundation.exp(a); return apply(e, e, e) }
        func log() -> Self { apply(Foundation.log(a), 1 / a, -1 / (a * a)) }
        func relu() -> Self { a > 0 ? self : Self() }
    }

    /// The smallest |pre-activation| of a hidden unit seen by `hyperLoss` (kinks must be far).
    var nearestKink = Double.infinity

    static let imageShape = [2, 3, 1], widths = [8, 4], classes = 5, examples = 7

    func makeSurface() throws -> (LossSurface, [Double], [[Double]], [Int32]) {
        let model = Model(.mlp(numNeurons: Self.widths), numClasses: Self.classes)
        let (params, stats) = try model.initialize(seed: 3, imageShape: Self.imageShape, Double.self)
        var rng = RandomGenerator(seed: 11)
        let pixels = Self.imageShape.reduce(1, *)
        let images = (0..<Self.examples).map { _ in (0..<pixels).map { _ in rng.normal() } }
        let labels = (0..<Self.examples).map { _ in Int32(rng.uniform(below: Self.classes)) }
        // Two chunks of 4 and 3 examples: the surface weights them by their sizes.
        func chunk(_ r: Range<Int>) -> (images: Tensor<Double>, labels: [Int32]) {
            (Tensor(shape: [r.count] + Self.imageShape, scalars: r.flatMap { images[$0] }), Array(labels[r]))
        }
        let s = LossSurface(model: model, params: params, batchStats: stats, mask: nil, chunks: [chunk(0..<4), chunk(4..<7)])
        return (s, LossSurface.flatten(params), images, labels)
    }

    /// The mean cross-entropy over all examples, in hyper-duals, from the flat vector.
    func hyperLoss(_ s: LossSurface, _ w: [HyperDual], images: [[Double]], labels: [Int32]) -> HyperDual {
        var offsets: [String: Int] = [:], o = 0
        for e in s.layout { offsets[e.path] = o; o += e.shape.reduce(1, *) }
        var total = HyperDual()
        for (x, label) in zip(images, labels) {
            var h = x.map { HyperDual(a: $0) }
            let layers = Self.widths.count + 1
            for l in 0..<layers {
                let k = offsets["Dense_\(l)/kernel"]!, bias = offsets["Dense_\(l)/bias"]!
                let out = l < Self.widths.count ? Self.widths[l] : Self.classes
                var next = [HyperDual]()
                for j in 0..<out {
                    var z = w[bias + j]
                    for i in h.indices { z = z + h[i] * w[k + i * out + j] }   // kernel [in, out], row-major
                    if l < Self.widths.count { nearestKink = min(nearestKink, abs(z.a)) }
                    next.append(l < Self.widths.count ? z.relu() : z)
                }
                h = next
            }
            let m = h.map(\.a).max()!
            var sum = HyperDual()
            for z in h { sum = sum + (z - HyperDual(a: m)).exp() }
            total = total + (sum.log() + HyperDual(a: m) - h[Int(label)])
        }
        return total * HyperDual(a: 1 / Double(labels.count))
    }

    func exactHessian(_ s: LossSurface, _ w: [Double], _ images: [[Double]], _ labels: [Int32]) -> (gradient: [Double], hessian: [[Double]]) {
        let n = w.count
        var h = [[Double]](repeating: [Double](repeating: 0, count: n), count: n), g = [Double](repeating: 0, count: n)
        for i in 0..<n {
            for j in i..<n {
                var v = w.map { HyperDual(a: $0) }
                v[i].b = 1; v[j].c = 1
                let r = hyperLoss(s, v, images: images, labels: labels)
                h[i][j] = r.d; h[j][i] = r.d
                if j == i { g[i] = r.b }
            }
        }
        return (g, h)
    }

    func matVec(_ m: [[Double]], _ v: [Double]) -> [Double] { m.map { Vector.dot($0, v) } }

    func testMeasuresMatchTheExactHessianOfASmallMLP() throws {
        let (s, w, images, labels) = try makeSurface()
        let (g, h) = exactHessian(s, w, images, labels)
        XCTAssertGreaterThan(nearestKink, 1e-3, "a ReLU kink within reach of the difference quotients")
        let n = w.count
        XCTAssertEqual(n, 6 * 8 + 8 + 8 * 4 + 4 + 4 * 5 + 5)

        // The tape's gradient is the hyper-dual one to rounding.
        let (_, tapeGradient) = try s.lossAndGradient(w)
        let gScale = g.map(abs).max()!
        for i in 0..<n { XCTAssertEqual(tapeGradient[i], g[i], accuracy: 1e-12 * gScale, "gradient \(i)") }

        // Hessian-vector products: central differences vs H v, 1e-6 of |H v|.
        var rng = RandomGenerator(seed: 5)
        for _ in 0..<3 {
            let v = (0..<n).map { _ in rng.normal() }
            let exact = matVec(h, v), approx = try s.hessianVectorProduct(w, v)
            let err = zip(exact, approx).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(err, 1e-6 * Vector.norm(exact), "HVP")
        }

        // The largest-magnitude eigenvalue.
        let eigen = SymmetricEigen.decompose(h)
        let top = eigen.values.max { abs($0) < abs($1) }!
        let power = try HessianMeasures.largestEigenvalue(s, at: w, iterations: 500, tolerance: 1e-9, rng: &rng)
        XCTAssertTrue(power.converged)
        XCTAssertEqual(power.value, top, accuracy: 1e-4 * abs(top), "after \(power.iterations) iterations")

        // Lanczos quadrature with m steps is Gauss quadrature: exact for z'p(H)z, p of
        // degree <= 2m - 1; so 3 steps already give z'H^k z for k <= 4 exactly.
        let z = (0..<n).map { _ in rng.nextUInt32() & 1 == 0 ? -1.0 : 1.0 }
        let q = try HessianMeasures.lanczos(s, at: w, start: z, steps: 3)
        XCTAssertEqual(q.nodes.count, 3)
        XCTAssertEqual(q.weights.reduce(0, +), 1, accuracy: 1e-12)
        let unit = Vector.scaled(z, 1 / Vector.norm(z))
        var power_k = unit
        for k in 1...4 {
            power_k = matVec(h, power_k)
            let exact = Vector.dot(unit, power_k)
            let quadrature = zip(q.nodes, q.weights).reduce(0) { $0 + $1.1 * pow($1.0, Double(k)) }
            XCTAssertEqual(quadrature, exact, accuracy: 1e-5 * pow(abs(top), Double(k)), "z'H^\(k)z")
        }
        // More steps find the extreme eigenvalues.
        let wide = try HessianMeasures.lanczos(s, at: w, start: z, steps: 40)
        XCTAssertEqual(wide.nodes.last!, eigen.values.last!, accuracy: 1e-4 * abs(top))
        XCTAssertEqual(wide.nodes.first!, eigen.values.first!, accuracy: 1e-4 * abs(top))

        // Hutchinson: within 5 standard deviations of the exact trace; Var(z'Hz) = 2 sum_{i != j} H_ij^2.
        let probes = 20
        let trace = (0..<n).reduce(0) { $0 + h[$1][$1] }
        var offDiagonal = 0.0
        for i in 0..<n { for j in 0..<n where i != j { offDiagonal += h[i][j] * h[i][j] } }
        let estimate = try HessianMeasures.trace(s, at: w, probes: probes, rng: &rng)
        XCTAssertEqual(estimate.value, trace, accuracy: 5 * (2 * offDiagonal / Double(probes)).squareRoot())
    }

    /// m-sharpness on one chunk against its expansion rho |g| + rho^2/2 u'Hu (u = g/|g|),
    /// from the exact Hessian; the rest is O(rho^3).
    func testMSharpnessMatchesItsSecondOrderExpansion() throws {
        let (full, w, images, labels) = try makeSurface()
        let one = LossSurface(model: full.model, params: full.tree(w), batchStats: full.batchStats, mask: nil, chunks: [full.chunks[0]])
        let (g, h) = exactHessian(one, w, Array(images[0..<4]), Array(labels[0..<4]))
        let gn = Vector.norm(g), u = Vector.scaled(g, 1 / gn)
        let curvature = Vector.dot(u, matVec(h, u))
        for rho in [1e-2, 1e-3] {
            let measured = try HessianMeasures.mSharpness(one, at: w, rho: rho)
            let expansion = rho * gn + rho * rho / 2 * curvature
            XCTAssertEqual(measured, expansion, accuracy: 50 * pow(rho, 3) * max(1, abs(curvature)) + 1e-12, "rho \(rho)")
            // And the second-order term matters: the first-order one alone is further off.
            XCTAssertGreaterThan(abs(measured - rho * gn), abs(measured - expansion))
        }
    }

    /// A unit 1e-7 from its kink: differences of plain gradients across it blow up; with
    /// the activation patterns frozen at w they match the exact Hessian of that piece.
    func testHessianVectorProductsIgnoreAKinkWithinTheStep() throws {
        let (s, w0, images, labels) = try makeSurface()
        var w = w0
        var offsets: [String: Int] = [:], o = 0
        for e in s.layout { offsets[e.path] = o; o += e.shape.reduce(1, *) }
        let k = offsets["Dense_0/kernel"]!, b = offsets["Dense_0/bias"]!
        var z = w[b]
        for i in 0..<6 { z += images[0][i] * w[k + i * 8] }
        w[b] -= z - 1e-7                                  // example 0 puts unit 0 at 1e-7
        let (_, h) = exactHessian(s, w, images, labels)
        var e = [Double](repeating: 0, count: w.count)
        e[b] = 1                                          // along that unit's bias
        let exact = matVec(h, e), frozen = try s.hessianVectorProduct(w, e)
        let scale = Vector.norm(exact)
        XCTAssertLessThan(zip(exact, frozen).map { abs($0 - $1) }.max()!, 1e-6 * scale)
        let t = 1e-5
        let plain = zip(try s.lossAndGradient(Vector.adding(w, t, e)).gradient, try s.lossAndGradient(Vector.adding(w, -t, e)).gradient)
            .map { ($0 - $1) / (2 * t) }
        XCTAssertGreaterThan(zip(exact, plain).map { abs($0 - $1) }.max()!, 1e-2 * scale, "the kink should show without freezing")
    }

    func testJacobiFindsTheEigenvaluesOfTheSecondDifferenceMatrix() {
        // tridiag(-1, 2, -1) of order n has eigenvalues 2 - 2 cos(k pi / (n + 1)), k = 1...n.
        let n = 12
        let m = (0..<n).map { i in (0..<n).map { j in i == j ? 2.0 : abs(i - j) == 1 ? -1.0 : 0.0 } }
        let (values, vectors) = SymmetricEigen.decompose(m)
        for k in 1...n { XCTAssertEqual(values[k - 1], 2 - 2 * cos(Double(k) * .pi / Double(n + 1)), accuracy: 1e-13) }
        for (value, v) in zip(values, vectors) {
            let mv = m.map { Vector.dot($0, v) }
            for i in 0..<n { XCTAssertEqual(mv[i], value * v[i], accuracy: 1e-12) }
        }
    }
}
