/// A seeded, counter-based random stream built on Philox4x32-10.
///
/// The key is the 64-bit seed; the 128-bit counter is (position: 64 bits,
/// stream: 64 bits). `derived(_:)` gives an independent stream for a named
/// purpose (one per parameter, per epoch's shuffle, per augmentation...), so
/// initialisation, shuffling and augmentation are reproducible from one seed and
/// do not shift when another consumer draws more or fewer numbers.
public struct RandomGenerator: Sendable {
    /// The Philox key: the generator's seed.
    public let seed: UInt64
    /// The Philox stream (high half of the counter), chosen by `derived`.
    public let stream: UInt64
    private var position: UInt64 = 0
    private var buffer = SIMD4<UInt32>()
    private var buffered = 0

    /// The generator at the start of `stream` for `seed`.
    public init(seed: UInt64, stream: UInt64 = 0) {
        self.seed = seed
        self.stream = stream
    }

    var key: SIMD2<UInt32> { SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)) }

    /// An independent generator for `tag`: its stream id is a Philox hash of this
    /// stream and the tag, under the same seed.
    public func derived(_ tag: UInt64) -> RandomGenerator {
        let h = Philox.block(counter: SIMD4(UInt32(truncatingIfNeeded: tag), UInt32(truncatingIfNeeded: tag >> 32),
                                            UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32) ^ 0x5EED_F00D),
                             key: key)
        return RandomGenerator(seed: seed, stream: UInt64(h[0]) | UInt64(h[1]) << 32)
    }

    /// A derived stream named by a string (e.g. a parameter path), hashed with FNV-1a.
    public func derived(_ name: String) -> RandomGenerator {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return derived(h)
    }

    /// The next 32 random bits (Philox4x32-10, four words per counter value).
    public mutating func nextUInt32() -> UInt32 {
        if buffered == 0 {
            buffer = Philox.block(counter: SIMD4(UInt32(truncatingIfNeeded: position), UInt32(truncatingIfNeeded: position >> 32),
                                                 UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)),
                                  key: key)
            position &+= 1
            buffered = 4
        }
        buffered &-= 1
        return buffer[3 &- buffered]
    }

    /// The next 64 random bits (two words, low first).
    public mutating func nextUInt64() -> UInt64 { UInt64(nextUInt32()) | UInt64(nextUInt32()) << 32 }

    /// Uniform on [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(nextUInt64() >> 11) * 0x1p-53 }

    /// Uniform on (0, 1]: never 0, so safe under a logarithm.
    public mutating func uniformPositive() -> Double { (Double(nextUInt64() >> 11) + 1) * 0x1p-53 }

    /// Uniform integer in 0..<n, without modulo bias (Lemire's method).
    public mutating func uniform(below n: Int) -> Int {
        precondition(n > 0, "uniform(below:) needs n > 0")
        let bound = UInt64(n)
        var m = nextUInt64().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = nextUInt64().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal by Box-Muller (one draw per call; the cosine branch).
    public mutating func normal() -> Double {
        let u1 = uniformPositive(), u2 = uniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// Standard normal conditioned on (lower, upper), by rejection: exact, and
    /// deterministic because the stream is. On (-2, 2) about 95% of draws are kept.
    public mutating func truncatedNormal(lower: Double = -2, upper: Double = 2) -> Double {
        precondition(lower < upper, "truncatedNormal: empty interval (\(lower), \(upper))")
        while true {
            let x = normal()
            if x > lower && x < upper { return x }
        }
    }

    /// A uniformly random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, uniform(below: i + 1)) }
        }
        return p
    }

    /// A tensor of `shape` with entries uniform in `range`, drawn in row-major order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public mutating func uniformTensor<T: RefScalar>(_ shape: [Int], in range: ClosedRange<Double> = 0...1) -> Tensor<T> {
        tensor(shape) { T(range.lowerBound + (range.upperBound - range.lowerBound) * $0.uniform()) }
    }

    /// A tensor of `shape` with entries normal(0, std^2), drawn in row-major order.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public mutating func normalTensor<T: RefScalar>(_ shape: [Int], std: Double = 1) -> Tensor<T> {
        tensor(shape) { T(std * $0.normal()) }
    }

    /// A tensor of `shape` with entries std * (a standard normal truncated to (lower, upper)).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public mutating func truncatedNormalTensor<T: RefScalar>(_ shape: [Int], std: Double = 1,
                                                             lower: Double = -2, upper: Double = 2) -> Tensor<T> {
        tensor(shape) { T(std * $0.truncatedNormal(lower: lower, upper: upper)) }
    }

    /// A tensor of `shape` filled in row-major order by `draw`, one call per entry (a plain
    /// loop: the specialised callers then spend nothing on generic dispatch).
    @inline(__always)
    private mutating func tensor<T: RefScalar>(_ shape: [Int], _ draw: (inout RandomGenerator) -> T) -> Tensor<T> {
        let n = shape.reduce(1, *)
        var scalars = [T]()
        scalars.reserveCapacity(n)
        for _ in 0..<n { scalars.append(draw(&self)) }
        return Tensor(shape: shape, scalars: scalars)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) private func _log(_ x: Double) -> Double { log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { cos(x) }
