/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, as gzip uses).
///
import RefTensor

/// `checksumBytewise` is the definition: one table lookup per byte. `checksum` is
/// slicing-by-8 (eight tables, eight bytes per step; Intel's "slicing-by-8" of Kounavis
/// and Berry): the same function with one round of lookups per eight bytes, which
/// matters because every gzip member read (MNIST, CIFAR-10) is checked whole (the
/// bytewise loop was 3.8% of an MNIST epoch's process under perf). Tests compare the two and the
/// standard check value CRC32("123456789") = 0xCBF43926.
enum CRC32 {
    /// Eight tables of 256 end to end: the first is the bytewise table; entry n of table k
    /// is the CRC of byte n followed by k zero bytes.
    static let tables: [UInt32] = {
        var t = (0..<256).map { n -> UInt32 in
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            return c
        }
        for i in 256..<(8 * 256) { t.append((t[i - 256] >> 8) ^ t[Int(t[i - 256] & 0xff)]) }
        return t
    }()

    /// The CRC of `bytes[start...]`, eight bytes per step.
    static func checksum(_ bytes: [UInt8], from start: Int = 0) -> UInt32 {
        bytes.withUnsafeBufferPointer { checksum(UnsafeBufferPointer(rebasing: $0[start...])) }
    }

    /// Bytes per part of a long buffer's CRC: the parts are summed in parallel, then
    /// joined in order (`combine`), the same CRC for any thread count.
    static let part = 1 << 22

    /// The CRC of the bytes of `p`: in `part`-sized pieces on all threads when long
    /// (the CRC of MNIST's 47 MB training images is a tenth of reading them).
    static func checksum(_ p: UnsafeBufferPointer<UInt8>) -> UInt32 {
        let parts = (p.count + part - 1) / part
        if parts <= 1 { return serialChecksum(p) }
        var crcs = [UInt32](repeating: 0, count: parts)
        crcs.withUnsafeMutableBufferPointer { out in
            Threads.parallelFor(parts) { i, _ in
                out[i] = serialChecksum(UnsafeBufferPointer(rebasing: p[(i * part)..<min(p.count, (i + 1) * part)]))
            }
        }
        var crc = crcs[0]
        for i in 1..<parts { crc = combine(crc, crcs[i], secondLength: min(p.count, (i + 1) * part) - i * part) }
        return crc
    }

    /// CRC(A followed by B) from CRC(A), CRC(B) and B's length. A CRC is the remainder of
    /// the message polynomial (with the register preset and final inversion folded in),
    /// so appending B multiplies A's part by x^(8 len B) mod P; the presets cancel in
    /// the exclusive or. Polynomials are in gzip's reflected order (x^0 is bit 31).
    static func combine(_ a: UInt32, _ b: UInt32, secondLength n: Int) -> UInt32 {
        multiply(a, xToThe8Times(n)) ^ b
    }

    /// a * b mod P, reflected: bit 31 is x^0.
    static func multiply(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var product: UInt32 = 0, b = b, bit: UInt32 = 1 << 31
        while bit != 0 {
            if a & bit != 0 { product ^= b }
            b = b & 1 != 0 ? (b >> 1) ^ 0xEDB8_8320 : b >> 1     // b * x mod P
            bit >>= 1
        }
        return product
    }

    /// x^(8n) mod P, by squaring: x^8, x^16, x^32, ... for the set bits of n.
    static func xToThe8Times(_ n: Int) -> UInt32 {
        var result: UInt32 = 1 << 31                 // 1
        var power: UInt32 = 1 << 23                  // x^8
        var n = n
        while n > 0 {
            if n & 1 != 0 { result = multiply(result, power) }
            power = multiply(power, power)
            n >>= 1
        }
        return result
    }

    /// The CRC of the bytes of `p` on this thread, eight bytes per step.
    static func serialChecksum(_ p: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        tables.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= p.count {
                let lo = c ^ (UInt32(p[i]) | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]) << 16 | UInt32(p[i + 3]) << 24)
                let hi = UInt32(p[i + 4]) | UInt32(p[i + 5]) << 8 | UInt32(p[i + 6]) << 16 | UInt32(p[i + 7]) << 24
                c = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
                    ^ t[256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < p.count { c = t[Int((c ^ UInt32(p[i])) & 0xff)] ^ (c >> 8); i += 1 }
        }
        return c ^ 0xffff_ffff
    }

    /// The definition: one byte per step.
    static func checksumBytewise(_ bytes: [UInt8], from start: Int = 0) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for i in start..<bytes.count { c = tables[Int((c ^ UInt32(bytes[i])) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }
}
