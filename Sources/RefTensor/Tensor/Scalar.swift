/// The element types every tensor, kernel and gradient rule supports.
///
/// `Float` is what training runs in; `Double` is what gradient checks and the
/// high-precision fixtures run in. Both go through the *same* generic code: the
/// only per-type facts are the SIMD vector used by the GEMM micro-kernel and the
/// NumPy dtype name.
public protocol RefScalar: BinaryFloatingPoint, SIMDScalar, Sendable, Codable
where Self.RawSignificand: FixedWidthInteger {
    /// The vector the GEMM micro-kernel keeps one row of its register tile in:
    /// two vector registers wide. With AVX (`-DREF_FMA` builds for this CPU) or on
    /// arm64 that is 16 floats / 8 doubles; in the portable x86-64 build (SSE2,
    /// sixteen 128-bit registers) 8 floats / 4 doubles, so the six rows of the tile
    /// still fit in registers.
    associatedtype TileRow: SIMD where TileRow.Scalar == Self
    /// Half a `TileRow`: the tile row of a GEMM whose C has at most that many columns
    /// (a convolution with 8 output channels), which a full row would half waste.
    associatedtype HalfRow: SIMD where HalfRow.Scalar == Self

    /// This type's `.npy` dtype (`Npy.DType.float32` or `.float64`).
    static var npyDType: Npy.DType { get }

    /// Converts from Double with round-to-nearest (used by gradient checks and RNG).
    init(_ value: Double)

    func squareRoot() -> Self
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
}

extension RefScalar {
    /// The dtype name NumPy, JAX and Flax checkpoints use for this type (`float32`, `float64`).
    public static var dtypeName: String { npyDType.name }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Float: RefScalar {
    #if REF_FMA || !arch(x86_64)
    /// Sixteen floats: two AVX registers.
    public typealias TileRow = SIMD16<Float>
    /// Eight floats.
    public typealias HalfRow = SIMD8<Float>
    #else
    /// Eight floats: two SSE registers.
    public typealias TileRow = SIMD8<Float>
    /// Four floats.
    public typealias HalfRow = SIMD4<Float>
    #endif
    /// `.float32`.
    public static var npyDType: Npy.DType { .float32 }
    /// e^x (libm's `expf`).
    @inlinable public static func exp(_ x: Float) -> Float { expf(x) }
    /// ln x (libm's `logf`).
    @inlinable public static func log(_ x: Float) -> Float { logf(x) }
}

extension Double: RefScalar {
    #if REF_FMA || !arch(x86_64)
    /// Eight doubles: two AVX registers.
    public typealias TileRow = SIMD8<Double>
    /// Four doubles.
    public typealias HalfRow = SIMD4<Double>
    #else
    /// Four doubles: two SSE registers.
    public typealias TileRow = SIMD4<Double>
    /// Two doubles.
    public typealias HalfRow = SIMD2<Double>
    #endif
    /// `.float64`.
    public static var npyDType: Npy.DType { .float64 }
    /// e^x (libm's `exp`).
    @inlinable public static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    /// ln x (libm's `log`).
    @inlinable public static func log(_ x: Double) -> Double { Glibc.log(x) }
}
