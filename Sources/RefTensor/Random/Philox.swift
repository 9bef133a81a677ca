/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
/// SC 2011): a counter-based generator. Output block = a keyed bijection of a
/// 128-bit counter, so any element of a stream can be computed directly, and a
/// stream is reproducible from (key, counter) alone. Checked against Random123's
/// known-answer vectors.
public enum Philox {
    static let m0: UInt64 = 0xD251_1F53, m1: UInt64 = 0xCD9E_8D57
    static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// Ten rounds of Philox4x32 on `counter` under `key`.
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = counter, k = key
        for round in 0..<10 {
            if round > 0 { k &+= SIMD2(w0, w1) }
            let p0 = m0 &* UInt64(c[0]), p1 = m1 &* UInt64(c[2])
            c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                      UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
        }
        return c
    }
}
