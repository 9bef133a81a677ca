/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320, as gzip uses).
///
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

    /// The CRC of the bytes of `p`, eight bytes per step.
    static func checksum(_ p: UnsafeBufferPointer<UInt8>) -> UInt32 {
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
