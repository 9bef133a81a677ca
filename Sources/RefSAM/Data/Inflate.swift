import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// gzip (RFC 1952) and DEFLATE (RFC 1951) decoding, written here so reading the
/// datasets needs no library. Huffman codes are decoded with a lookup table
/// indexed by the next `fastBits` bits, falling back to a canonical bit-by-bit
/// walk for longer codes. The gzip CRC-32 and length are checked.
enum Inflate {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// The most bytes one file may inflate to: half of what this process may allocate
    /// (physical memory, or the address-space limit when one is set). A "gzip bomb"
    /// is refused when it reaches this, before it exhausts memory.
    nonisolated(unsafe) static var outputLimit: Int = {
        var limit = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        var r = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &r) == 0, r.rlim_cur != rlim_t.max { limit = min(limit, Int(clamping: r.rlim_cur)) }
        return limit / 2
    }()

    /// The little-endian 32-bit number at `bytes[at..<at + 4]` (gzip's CRC-32 and ISIZE).
    static func littleEndian32(_ bytes: [UInt8], at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }

    /// True when `bytes` starts with the gzip magic number.
    static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

    /// Decompresses a gzip file (all members, concatenated).
    ///
    /// The output is written straight into the returned array, sized by the last
    /// member's trailer (ISIZE, the whole output when there is one member). Only when
    /// that size proves wrong (several members, a damaged trailer) is the file decoded
    /// again into a growing buffer. (Decoding into scratch and copying the result out
    /// wrote and faulted in every output byte twice more: a tenth of reading MNIST.)
    static func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        if let size = trailerSize(bytes) {
            do {
                return try [UInt8](unsafeUninitializedCapacity: size + OutputBuffer.slack) { buffer, count in
                    var out = OutputBuffer(fixed: buffer.baseAddress!, capacity: buffer.count, limit: size)
                    try members(bytes, into: &out)
                    count = out.count
                }
            } catch is OutputBuffer.Overflow {}
        }
        var out = OutputBuffer(capacity: max(1 << 16, bytes.count * 4), limit: outputLimit)
        defer { out.free() }
        try members(bytes, into: &out)
        return Array(UnsafeBufferPointer(start: out.base, count: out.count))
    }

    /// The last member's uncompressed size (mod 2^32) from the file's last four bytes,
    /// when it is one a file of this size can hold (DEFLATE expands at most 1032 times)
    /// within `outputLimit`.
    static func trailerSize(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 18 else { return nil }
        let n = bytes.count
        let size = Int(littleEndian32(bytes, at: n - 4))
        return size <= min(outputLimit, 1032 * n) ? size : nil
    }

    /// Every member of a gzip file appended to `out`, each member's CRC-32 and length checked.
    static func members(_ bytes: [UInt8], into out: inout OutputBuffer) throws {
        var pos = 0
        while pos < bytes.count {
            guard bytes.count - pos >= 18, bytes[pos] == 0x1f, bytes[pos + 1] == 0x8b else {
                if pos > 0 && bytes[pos...].allSatisfy({ $0 == 0 }) { break }   // trailing padding
                throw Failure("not gzip data (bad magic) at byte \(pos)")
            }
            guard bytes[pos + 2] == 8 else { throw Failure("unsupported gzip compression method \(bytes[pos + 2])") }
            let flags = bytes[pos + 3]
            var p = pos + 10
            if flags & 4 != 0 { guard p + 2 <= bytes.count else { throw Failure("truncated gzip header") }
                p += 2 + Int(bytes[p]) + Int(bytes[p + 1]) << 8 }
            if flags & 8 != 0 { while p < bytes.count && bytes[p] != 0 { p += 1 }; p += 1 }
            if flags & 16 != 0 { while p < bytes.count && bytes[p] != 0 { p += 1 }; p += 1 }
            if flags & 2 != 0 { p += 2 }
            guard p < bytes.count else { throw Failure("truncated gzip header") }
            let start = out.count
            let consumed = try inflate(bytes, from: p, into: &out)
            p += consumed
            guard p + 8 <= bytes.count else { throw Failure("truncated gzip trailer (the file is cut short)") }
            let crc = littleEndian32(bytes, at: p), size = littleEndian32(bytes, at: p + 4)
            guard UInt32(truncatingIfNeeded: out.count - start) == size else { throw Failure("gzip length mismatch (corrupt data)") }
            guard CRC32.checksum(UnsafeBufferPointer(start: out.base + start, count: out.count - start)) == crc else {
                throw Failure("gzip CRC-32 mismatch (corrupt data)")
            }
            pos = p + 8
        }
    }

    /// Inflates a raw DEFLATE stream starting at `start` onto `out`; returns the bytes consumed.
    static func inflate(_ input: [UInt8], from start: Int, into out: inout OutputBuffer) throws -> Int {
        try input.withUnsafeBufferPointer { inp in
            var r = BitReader(data: inp, pos: start)
            var final = false
            while !final {
                final = try r.bits(1) == 1
                switch try r.bits(2) {
                case 0:
                    r.alignToByte()
                    guard r.pos + 4 <= inp.count else { throw Failure("truncated stored block") }
                    let len = Int(inp[r.pos]) | Int(inp[r.pos + 1]) << 8
                    let nlen = Int(inp[r.pos + 2]) | Int(inp[r.pos + 3]) << 8
                    guard len == (~nlen & 0xffff) else { throw Failure("corrupt stored block length") }
                    r.pos += 4
                    guard r.pos + len <= inp.count else { throw Failure("truncated stored block") }
                    try out.append(UnsafeBufferPointer(rebasing: inp[r.pos..<(r.pos + len)]))
                    r.pos += len
                case 1:
                    try block(&r, &out, Huffman.fixedLiteral, Huffman.fixedDistance)
                case 2:
                    let (lit, dist) = try dynamicTables(&r)
                    try block(&r, &out, lit, dist)
                default:
                    throw Failure("invalid DEFLATE block type")
                }
            }
            return r.bytePosition - start
        }
    }

    /// Length codes 257...285 and distance codes 0...29: (base << 8 | extra bits).
    static let lengthCodes: [Int32] = zip([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
                                           131, 163, 195, 227, 258],
                                          [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]).map { Int32($0 << 8 | $1) }
    static let distanceCodes: [Int32] = zip([1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                                             2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577],
                                            [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13])
        .map { Int32($0 << 8 | $1) }

    /// One compressed block: literals and matches until the end-of-block symbol. The
    /// tables are read through pointers for the whole block (no bounds checks or
    /// reference counting per symbol); every index is masked or checked first.
    static func block(_ reader: inout BitReader, _ output: inout OutputBuffer, _ lit: Huffman, _ dist: Huffman) throws {
        // Local copies, so the bit buffer and output position live in registers.
        var r = reader, out = output
        defer { reader = r; output = out }
        try lit.fast.withUnsafeBufferPointer { litFast in try dist.fast.withUnsafeBufferPointer { distFast in
        try lengthCodes.withUnsafeBufferPointer { lengths in try distanceCodes.withUnsafeBufferPointer { distances in
            while true {
                // One refill per symbol tops the buffer up to 56 bits, enough for a whole
                // match (code 15 + extra 5 + distance code 15 + extra 13 bits), so the
                // per-field checks below never refill until the input's last bytes.
                if r.count < 48 { r.refill() }
                let sym = try lit.decode(&r, fast: litFast)
                if sym < 256 { try out.append(UInt8(truncatingIfNeeded: sym)); continue }
                if sym == 256 { return }
                let li = sym &- 257
                guard li < 29 else { throw Failure("invalid length symbol \(sym)") }
                let length = Int(lengths[li] >> 8) &+ (try r.bits(Int(lengths[li] & 0xff)))
                let ds = try dist.decode(&r, fast: distFast)
                guard ds < 30 else { throw Failure("invalid distance symbol \(ds)") }
                let distance = Int(distances[ds] >> 8) &+ (try r.bits(Int(distances[ds] & 0xff)))
                guard distance <= out.count else { throw Failure("distance \(distance) reaches before the start of the data") }
                try out.copyMatch(distance: distance, length: length)
            }
        } }
        } }
    }

    static func dynamicTables(_ r: inout BitReader) throws -> (Huffman, Huffman) {
        let hlit = try r.bits(5) + 257, hdist = try r.bits(5) + 1, hclen = try r.bits(4) + 4
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<hclen { codeLengths[order[i]] = try r.bits(3) }
        let lengthCode = try Huffman(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < hlit + hdist {
            let sym = try lengthCode.decode(&r)
            switch sym {
            case 0...15: lengths.append(sym)
            case 16:
                guard let last = lengths.last else { throw Failure("repeat with no previous length") }
                lengths.append(contentsOf: repeatElement(last, count: 3 + (try r.bits(2))))
            case 17: lengths.append(contentsOf: repeatElement(0, count: 3 + (try r.bits(3))))
            default: lengths.append(contentsOf: repeatElement(0, count: 11 + (try r.bits(7))))
            }
        }
        guard lengths.count == hlit + hdist else { throw Failure("code lengths overrun") }
        return (try Huffman(lengths: Array(lengths[0..<hlit])), try Huffman(lengths: Array(lengths[hlit...])))
    }
}

/// The output of inflating: a byte buffer that back-references (LZ77 matches) copy
/// within. Either growable (up to `limit`, then a "gzip bomb" error) or fixed: memory
/// owned by someone else (the result array), where needing more than `limit` bytes
/// throws `Overflow` so the caller can start again with a growable one.
struct OutputBuffer {
    /// Thrown by a fixed buffer asked to hold more than its limit.
    struct Overflow: Error {}
    /// Spare bytes past the last output byte a match may scribble on (eight-byte copies).
    static let slack = 8

    var base: UnsafeMutablePointer<UInt8>
    var capacity: Int
    var count = 0
    /// Growing past this many bytes is an error (see `Inflate.outputLimit`).
    let limit: Int
    let growable: Bool

    init(capacity: Int, limit: Int) {
        self.capacity = min(capacity, max(limit, 1)); self.limit = limit; growable = true
        base = .allocate(capacity: self.capacity)
    }
    /// `capacity` bytes at `base`, at most `limit` of them output.
    init(fixed base: UnsafeMutablePointer<UInt8>, capacity: Int, limit: Int) {
        self.base = base; self.capacity = capacity; self.limit = min(limit, capacity); growable = false
    }
    func free() { if growable { base.deallocate() } }

    /// Bytes it may hold now without growing: a growable buffer's capacity (never above
    /// its limit), a fixed one's limit (never above its capacity).
    var room: Int { min(capacity, limit) }

    mutating func reserve(_ extra: Int) throws {
        guard count + extra > room else { return }
        guard count + extra <= limit else {
            if !growable { throw Overflow() }
            throw Inflate.Failure("the data inflates to more than \(limit) bytes, more than this process can hold (a gzip bomb?)")
        }
        var c = capacity * 2
        while c < count + extra { c *= 2 }
        c = min(c, limit)
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        nb.update(from: base, count: count)
        base.deallocate()
        base = nb; capacity = c
    }

    @inline(__always) mutating func append(_ b: UInt8) throws {
        if count >= room { try reserve(1) }
        base[count] = b
        count &+= 1
    }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        try reserve(bytes.count)
        (base + count).update(from: bytes.baseAddress!, count: bytes.count)
        count += bytes.count
    }

    /// Appends `length` bytes starting `distance` back (overlapping copies repeat the
    /// pattern): eight bytes at a time when the source runs at least eight behind (each
    /// word is then read after it is final), a fill for a run of one byte, else byte
    /// by byte.
    @inline(__always) mutating func copyMatch(distance: Int, length: Int) throws {
        try reserve(length)
        let dst = base + count, src = dst - distance
        if distance >= 8 && count &+ length &+ OutputBuffer.slack <= capacity {
            var i = 0
            while i < length {
                UnsafeMutableRawPointer(dst + i).storeBytes(of: UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self), as: UInt64.self)
                i &+= 8
            }
        } else if distance == 1 {
            dst.update(repeating: src.pointee, count: length)
        } else {
            for i in 0..<length { dst[i] = src[i] }
        }
        count &+= length
    }
}

struct BitReader {
    let data: UnsafeBufferPointer<UInt8>
    var pos: Int
    var buffer: UInt64 = 0
    var count = 0

    init(data: UnsafeBufferPointer<UInt8>, pos: Int) { self.data = data; self.pos = pos }

    /// Position of the next unread byte once the bit buffer is given back.
    var bytePosition: Int { pos - count / 8 }

    @inline(__always) mutating func refill() {
        if pos &+ 8 <= data.count {
            // Eight bytes at once (little-endian, as DEFLATE packs bits); keep the whole bytes that fit.
            let word = UInt64(littleEndian: UnsafeRawPointer(data.baseAddress! + pos).loadUnaligned(as: UInt64.self))
            buffer |= word << UInt64(count)
            pos &+= (63 &- count) >> 3
            count |= 56
            return
        }
        while count <= 56 && pos < data.count {
            buffer |= UInt64(data[pos]) << UInt64(count)
            pos += 1
            count += 8
        }
    }

    @inline(__always) mutating func bits(_ n: Int) throws -> Int {
        if n == 0 { return 0 }
        if count < n { refill(); guard count >= n else { throw Inflate.Failure("unexpected end of compressed data") } }
        let v = Int(buffer & ((1 << UInt64(n)) - 1))
        buffer >>= UInt64(n)
        count -= n
        return v
    }

    @inline(__always) mutating func peek(_ n: Int) -> Int {
        if count < n { refill() }
        return Int(buffer & ((1 << UInt64(n)) - 1))
    }

    mutating func alignToByte() {
        let drop = count % 8
        buffer >>= UInt64(drop)
        count -= drop
        // Give whole unread bytes back so stored blocks read from `pos`.
        pos -= count / 8
        buffer = 0
        count = 0
    }
}

/// A canonical Huffman code with a lookup table over the first `fastBits` bits.
struct Huffman {
    static let fastBits = 10
    /// For each `fastBits`-bit pattern: symbol << 4 | code length, or -1 for longer codes.
    var fast: [Int32]
    var counts: [Int]      // codes per length
    var symbols: [Int]     // symbols ordered by code

    init(lengths: [Int]) throws {
        counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[l] += 1 }
        counts[0] = 0
        var left = 1
        for len in 1...15 {
            left <<= 1
            left -= counts[len]
            guard left >= 0 else { throw Inflate.Failure("over-subscribed Huffman code") }
        }
        var offsets = [Int](repeating: 0, count: 16)
        for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (sym, l) in lengths.enumerated() where l != 0 { symbols[offsets[l]] = sym; offsets[l] += 1 }
        // Fast table: assign canonical codes, store bit-reversed (DEFLATE reads LSB first).
        fast = [Int32](repeating: -1, count: 1 << Huffman.fastBits)
        var code = 0, index = 0
        for len in 1...15 {
            for _ in 0..<counts[len] {
                let sym = symbols[index]
                index += 1
                if len <= Huffman.fastBits {
                    var rev = 0
                    for b in 0..<len where code & (1 << b) != 0 { rev |= 1 << (len - 1 - b) }
                    var fill = rev
                    while fill < (1 << Huffman.fastBits) { fast[fill] = Int32(sym << 4 | len); fill += 1 << len }
                }
                code += 1
            }
            code <<= 1
        }
    }

    @inline(__always) func decode(_ r: inout BitReader) throws -> Int {
        try fast.withUnsafeBufferPointer { try decode(&r, fast: $0) }
    }

    /// `decode` with `fast` (this code's table) already borrowed.
    @inline(__always) func decode(_ r: inout BitReader, fast: UnsafeBufferPointer<Int32>) throws -> Int {
        let e = fast[r.peek(Huffman.fastBits)]
        if e >= 0 {
            let len = Int(e & 15)
            guard r.count >= len else { throw Inflate.Failure("unexpected end of compressed data") }
            r.buffer >>= UInt64(len)
            r.count -= len
            return Int(e >> 4)
        }
        // Slow path: canonical decoding bit by bit.
        var code = 0, first = 0, index = 0
        for len in 1...15 {
            code |= try r.bits(1)
            let c = counts[len]
            if code - c < first { return symbols[index + (code - first)] }
            index += c
            first += c
            first <<= 1
            code <<= 1
        }
        throw Inflate.Failure("invalid Huffman code")
    }

    static let fixedLiteral: Huffman = try! Huffman(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
    static let fixedDistance: Huffman = try! Huffman(lengths: [Int](repeating: 5, count: 30))
}
