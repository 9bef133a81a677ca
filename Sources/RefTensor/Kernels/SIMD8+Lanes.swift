/// Eight-lane loads, stores and conversions for loops vectorised by hand (BatchNorm's
/// tiles, the in-place momentum step), where the compiler would not do it itself.

/// Eight consecutive values at `p`.
@inline(__always)
func lanes<S: SIMDScalar>(_ p: UnsafePointer<S>) -> SIMD8<S> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<S>.self)
}

/// Stores eight values at `p`.
@inline(__always)
func storeLanes<S: SIMDScalar>(_ v: SIMD8<S>, _ p: UnsafeMutablePointer<S>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<S>.self)
}

/// Lane by lane `Double(v[i])` (exact).
@inline(__always)
func widened<T: RefScalar>(_ v: SIMD8<T>) -> SIMD8<Double> { SIMD8<Double>(v) }

/// Lane by lane `T(v[i])` (round to nearest, as the scalar conversion).
@inline(__always)
func narrowed<T: RefScalar>(_ v: SIMD8<Double>, to _: T.Type) -> SIMD8<T> { SIMD8<T>(v) }
