/// The MessagePack subset Flax checkpoints use, written here to stay dependency-free.
indirect enum MessagePack: Equatable, Sendable {
    case nil_
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case binary([UInt8])
    case array([MessagePack])
    /// Key order is kept as read (Checkpoint writes keys sorted, as Flax does).
    case map([(MessagePack, MessagePack)])
    case ext(type: Int8, data: [UInt8])

    static func == (a: MessagePack, b: MessagePack) -> Bool {
        switch (a, b) {
        case (.nil_, .nil_): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.binary(x), .binary(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.map(x), .map(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.ext(t1, d1), .ext(t2, d2)): return t1 == t2 && d1 == d2
        default: return false
        }
    }

    /// Value of a string key in a map.
    subscript(key: String) -> MessagePack? {
        if case let .map(pairs) = self { return pairs.first { $0.0 == .string(key) }?.1 }
        return nil
    }

    // MARK: Encoding

    func encoded() -> [UInt8] { var out: [UInt8] = []; encode(into: &out); return out }

    func encode(into o: inout [UInt8]) {
        func be(_ v: UInt64, _ bytes: Int) { for i in stride(from: bytes - 1, through: 0, by: -1) { o.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        switch self {
        case .nil_: o.append(0xc0)
        case let .bool(b): o.append(b ? 0xc3 : 0xc2)
        case let .int(i):
            // The smallest form that holds the value, as msgpack-python (and so Flax) writes it.
            if i >= 0 {
                if i < 128 { o.append(UInt8(i)) }
                else if i <= Int64(UInt8.max) { o.append(0xcc); be(UInt64(i), 1) }
                else if i <= Int64(UInt16.max) { o.append(0xcd); be(UInt64(i), 2) }
                else if i <= Int64(UInt32.max) { o.append(0xce); be(UInt64(i), 4) }
                else { o.append(0xcf); be(UInt64(i), 8) }
            } else {
                if i >= -32 { o.append(UInt8(bitPattern: Int8(i))) }
                else if i >= Int64(Int8.min) { o.append(0xd0); be(UInt64(bitPattern: i), 1) }
                else if i >= Int64(Int16.min) { o.append(0xd1); be(UInt64(bitPattern: i), 2) }
                else if i >= Int64(Int32.min) { o.append(0xd2); be(UInt64(bitPattern: i), 4) }
                else { o.append(0xd3); be(UInt64(bitPattern: i), 8) }
            }
        case let .float(d): o.append(0xcb); be(d.bitPattern, 8)
        case let .string(s):
            let b = Array(s.utf8)
            if b.count < 32 { o.append(0xa0 | UInt8(b.count)) } else if b.count < 256 { o.append(0xd9); be(UInt64(b.count), 1) }
            else if b.count < 65536 { o.append(0xda); be(UInt64(b.count), 2) } else { o.append(0xdb); be(UInt64(b.count), 4) }
            o.append(contentsOf: b)
        case let .binary(b):
            if b.count < 256 { o.append(0xc4); be(UInt64(b.count), 1) } else if b.count < 65536 { o.append(0xc5); be(UInt64(b.count), 2) }
            else { o.append(0xc6); be(UInt64(b.count), 4) }
            o.append(contentsOf: b)
        case let .array(a):
            if a.count < 16 { o.append(0x90 | UInt8(a.count)) } else if a.count < 65536 { o.append(0xdc); be(UInt64(a.count), 2) }
            else { o.append(0xdd); be(UInt64(a.count), 4) }
            for v in a { v.encode(into: &o) }
        case let .map(m):
            if m.count < 16 { o.append(0x80 | UInt8(m.count)) } else if m.count < 65536 { o.append(0xde); be(UInt64(m.count), 2) }
            else { o.append(0xdf); be(UInt64(m.count), 4) }
            for (k, v) in m { k.encode(into: &o); v.encode(into: &o) }
        case let .ext(t, d):
            switch d.count {
            case 1: o.append(0xd4)
            case 2: o.append(0xd5)
            case 4: o.append(0xd6)
            case 8: o.append(0xd7)
            case 16: o.append(0xd8)
            default:
                if d.count < 256 { o.append(0xc7); be(UInt64(d.count), 1) } else if d.count < 65536 { o.append(0xc8); be(UInt64(d.count), 2) }
                else { o.append(0xc9); be(UInt64(d.count), 4) }
            }
            o.append(UInt8(bitPattern: t))
            o.append(contentsOf: d)
        }
    }

    // MARK: Decoding

    struct DecodeError: Error, CustomStringConvertible { let description: String }

    /// Deepest nesting of arrays and maps accepted (a checkpoint tree is about 6 deep);
    /// bounded so a hostile file cannot exhaust the stack.
    static let maxDepth = 256

    /// The kind of value, for error messages ("an int", "a map", ...).
    var kindName: String {
        switch self {
        case .nil_: return "nil"
        case .bool: return "a bool"
        case .int: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .binary: return "binary data"
        case .array: return "an array"
        case .map: return "a map"
        case .ext: return "an extension value"
        }
    }

    static func decode(_ bytes: [UInt8]) throws -> MessagePack {
        var p = 0
        let v = try bytes.withUnsafeBufferPointer { try decodeValue($0, &p, depth: 0) }
        guard p == bytes.count else { throw DecodeError(description: "\(bytes.count - p) bytes after the end of the data") }
        return v
    }

    /// Counts are checked against the bytes left (an element takes at least one byte)
    /// before anything is reserved, and nesting is bounded.
    static func checkContainer(_ b: UnsafeBufferPointer<UInt8>, _ p: Int, count n: Int, bytesPerItem: Int, depth: Int) throws {
        guard depth < maxDepth else { throw DecodeError(description: "arrays and maps nested deeper than \(maxDepth) at byte \(p)") }
        guard n <= (b.count - p) / bytesPerItem else {
            throw DecodeError(description: "a container of \(n) items at byte \(p) is longer than the \(b.count - p) bytes left")
        }
    }

    static func decodeArray(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, count n: Int, depth: Int) throws -> MessagePack {
        try checkContainer(b, p, count: n, bytesPerItem: 1, depth: depth)
        var items: [MessagePack] = []
        items.reserveCapacity(n)
        for _ in 0..<n { items.append(try decodeValue(b, &p, depth: depth + 1)) }
        return .array(items)
    }

    static func decodeMap(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, count n: Int, depth: Int) throws -> MessagePack {
        try checkContainer(b, p, count: n, bytesPerItem: 2, depth: depth)
        var pairs: [(MessagePack, MessagePack)] = []
        pairs.reserveCapacity(n)
        for _ in 0..<n { pairs.append((try decodeValue(b, &p, depth: depth + 1), try decodeValue(b, &p, depth: depth + 1))) }
        return .map(pairs)
    }

    static func decodeValue(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, depth: Int) throws -> MessagePack {
        func need(_ n: Int) throws { if p + n > b.count { throw DecodeError(description: "truncated data at byte \(p)") } }
        func be(_ n: Int) throws -> UInt64 {
            try need(n)
            var v: UInt64 = 0
            for _ in 0..<n { v = v << 8 | UInt64(b[p]); p += 1 }
            return v
        }
        func bytes(_ n: Int) throws -> [UInt8] { try need(n); defer { p += n }; return Array(b[p..<(p + n)]) }
        func array(_ n: Int) throws -> MessagePack { try decodeArray(b, &p, count: n, depth: depth) }
        func map(_ n: Int) throws -> MessagePack { try decodeMap(b, &p, count: n, depth: depth) }
        func ext(_ n: Int) throws -> MessagePack { let t = Int8(bitPattern: UInt8(try be(1))); return .ext(type: t, data: try bytes(n)) }
        func string(_ n: Int) throws -> MessagePack { .string(String(decoding: try bytes(n), as: UTF8.self)) }
        try need(1)
        let c = b[p]; p += 1
        switch c {
        case 0x00...0x7f: return .int(Int64(c))
        case 0x80...0x8f: return try map(Int(c & 0x0f))
        case 0x90...0x9f: return try array(Int(c & 0x0f))
        case 0xa0...0xbf: return try string(Int(c & 0x1f))
        case 0xc0: return .nil_
        case 0xc2: return .bool(false)
        case 0xc3: return .bool(true)
        case 0xc4: return .binary(try bytes(Int(try be(1))))
        case 0xc5: return .binary(try bytes(Int(try be(2))))
        case 0xc6: return .binary(try bytes(Int(try be(4))))
        case 0xc7: return try ext(Int(try be(1)))
        case 0xc8: return try ext(Int(try be(2)))
        case 0xc9: return try ext(Int(try be(4)))
        case 0xca: return .float(Double(Float(bitPattern: UInt32(try be(4)))))
        case 0xcb: return .float(Double(bitPattern: try be(8)))
        case 0xcc: return .int(Int64(try be(1)))
        case 0xcd: return .int(Int64(try be(2)))
        case 0xce: return .int(Int64(try be(4)))
        case 0xcf:
            let v = try be(8)
            guard v <= UInt64(Int64.max) else { throw DecodeError(description: "uint64 \(v) does not fit") }
            return .int(Int64(v))
        case 0xd0: return .int(Int64(Int8(truncatingIfNeeded: try be(1))))
        case 0xd1: return .int(Int64(Int16(truncatingIfNeeded: try be(2))))
        case 0xd2: return .int(Int64(Int32(truncatingIfNeeded: try be(4))))
        case 0xd3: return .int(Int64(bitPattern: try be(8)))
        case 0xd4: return try ext(1)
        case 0xd5: return try ext(2)
        case 0xd6: return try ext(4)
        case 0xd7: return try ext(8)
        case 0xd8: return try ext(16)
        case 0xd9: return try string(Int(try be(1)))
        case 0xda: return try string(Int(try be(2)))
        case 0xdb: return try string(Int(try be(4)))
        case 0xdc: return try array(Int(try be(2)))
        case 0xdd: return try array(Int(try be(4)))
        case 0xde: return try map(Int(try be(2)))
        case 0xdf: return try map(Int(try be(4)))
        case 0xe0...0xff: return .int(Int64(Int8(bitPattern: c)))
        default: throw DecodeError(description: "unsupported type byte 0x\(String(c, radix: 16)) at byte \(p - 1)")
        }
    }
}
