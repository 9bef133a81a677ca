import Foundation

/// NumPy `.npy` files: read format 1.0, 2.0 and 3.0, write 1.0.
///
/// Read: little- or big-endian float32/float64/int32/int64/uint8/bool, in C or
/// Fortran order (both are returned in C order). Anything else is refused with an
/// error naming the file and the reason. Write: little-endian, C order.
public enum Npy {
    /// The element types `.npy` files may hold here; the raw value is NumPy's type code.
    public enum DType: String, Sendable {
        case float32 = "f4", float64 = "f8", int32 = "i4", int64 = "i8", uint8 = "u1", bool = "b1"
        /// NumPy's name of the dtype (`float32`, `uint8`, ...).
        public var name: String { "\(self)" }
        /// Bytes per element.
        public var size: Int { switch self { case .float32, .int32: 4; case .float64, .int64: 8; case .uint8, .bool: 1 } }
        /// True for float32 and float64.
        public var isFloat: Bool { self == .float32 || self == .float64 }
    }

    /// A decoded array: shape, dtype, and its bytes little-endian in C order.
    public struct Array: Sendable {
        /// The array's shape (C order).
        public var shape: [Int]
        /// The element type.
        public var dtype: DType
        /// `count * dtype.size` bytes, little-endian, C order.
        public var bytes: [UInt8]
        /// The number of elements (1 for a rank-0 array).
        public var count: Int { shape.reduce(1, *) }

        /// The elements as Double (exact for every supported dtype but int64 beyond 2^53).
        public func doubles() -> [Double] {
            bytes.withUnsafeBytes { raw in
                (0..<count).map { i -> Double in
                    switch dtype {
                    case .float32: return Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case .float64: return Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    case .int32: return Double(raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    case .int64: return Double(raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    case .uint8, .bool: return Double(raw[i])
                    }
                }
            }
        }

        /// A float tensor; refuses integer data (a label file read as a tensor is a mistake).
        public func tensor<T: RefScalar>(_: T.Type = T.self, name: String = "array") throws -> Tensor<T> {
            guard dtype.isFloat else { throw TensorError.file(path: name, reason: "dtype \(dtype) is not a float type") }
            return Tensor(shape: shape, scalars: doubles().map { T($0) })
        }

        /// Integer elements (labels); refuses floats and values outside Int32.
        public func int32s(name: String = "array") throws -> [Int32] {
            guard !dtype.isFloat else { throw TensorError.file(path: name, reason: "dtype \(dtype) is not an integer type") }
            return try doubles().map { v in
                guard let i = Int32(exactly: v) else { throw TensorError.file(path: name, reason: "value \(v) does not fit in int32") }
                return i
            }
        }
    }

    // MARK: Reading

    /// Reads and decodes the `.npy` file at `path`; errors name it.
    public static func read(contentsOf path: String) throws -> Array {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError.file(path: path, reason: "cannot read the file (missing or unreadable)")
        }
        return try decode([UInt8](data), name: path)
    }

    /// Decodes `.npy` bytes (format 1.0-3.0; big-endian and Fortran order are converted); `name` labels errors.
    public static func decode(_ b: [UInt8], name: String) throws -> Array {
        func fail(_ r: String) -> TensorError { TensorError.file(path: name, reason: r) }
        guard b.count >= 10, b[0] == 0x93, Swift.Array(b[1..<6]) == Swift.Array("NUMPY".utf8) else {
            throw fail("not a .npy file (bad magic)")
        }
        let major = b[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; headerStart = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; headerStart = 12
        default: throw fail("unsupported format version \(major).\(b[7])")
        }
        guard b.count >= headerStart + headerLength else { throw fail("truncated header") }
        guard let header = String(bytes: b[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("header is not text")
        }
        let fields = try parseHeader(header, fail: fail)
        let dataStart = headerStart + headerLength
        guard let need = ElementCount.of(fields.shape, times: fields.dtype.size) else {
            throw fail("shape \(fields.shape) of \(fields.dtype) is too large to exist")
        }
        guard b.count - dataStart == need else {
            throw fail("data holds \(b.count - dataStart) bytes, shape \(fields.shape) of \(fields.dtype) needs \(need)")
        }
        var bytes = Swift.Array(b[dataStart...])
        if fields.bigEndian && fields.dtype.size > 1 {
            let s = fields.dtype.size
            for i in stride(from: 0, to: bytes.count, by: s) { bytes[i..<(i + s)].reverse() }
        }
        if fields.fortranOrder && fields.shape.count > 1 {
            bytes = fortranToC(bytes, shape: fields.shape, size: fields.dtype.size)
        }
        return Array(shape: fields.shape, dtype: fields.dtype, bytes: bytes)
    }

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    static func parseHeader(_ h: String, fail: (String) -> TensorError) throws
        -> (dtype: DType, bigEndian: Bool, fortranOrder: Bool, shape: [Int]) {
        func value(of key: String) throws -> Substring {
            guard let k = h.range(of: "'\(key)'") ?? h.range(of: "\"\(key)\"") else { throw fail("header has no '\(key)': \(h)") }
            guard let colon = h[k.upperBound...].firstIndex(of: ":") else { throw fail("malformed header: \(h)") }
            return h[h.index(after: colon)...].drop(while: { $0 == " " })
        }
        let d = try value(of: "descr")
        guard let q = d.first, q == "'" || q == "\"", let end = d.dropFirst().firstIndex(of: q) else {
            throw fail("descr is not a simple dtype string (structured arrays are not supported): \(h)")
        }
        let descr = d[d.index(after: d.startIndex)..<end]
        guard descr.count >= 2, let order = descr.first, "<>|=".contains(order),
              let dtype = DType(rawValue: String(descr.dropFirst())) else {
            throw fail("unsupported dtype '\(descr)' (supported: float32, float64, int32, int64, uint8, bool)")
        }
        let f = try value(of: "fortran_order")
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else {
            throw fail("fortran_order is neither True nor False: \(h)")
        }
        let s = try value(of: "shape")
        guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("shape is not a tuple: \(h)") }
        let dims = s[s.index(after: s.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        var shape: [Int] = []
        for dim in dims {
            guard let v = Int(dim), v >= 0 else {
                throw fail("shape dimension '\(dim.prefix(40))' is not a non-negative integer (shape \(s.prefix(80)))")
            }
            shape.append(v)
        }
        return (dtype, order == ">", fortran, shape)
    }

    static func fortranToC(_ src: [UInt8], shape: [Int], size: Int) -> [UInt8] {
        var dst = [UInt8](repeating: 0, count: src.count)
        let n = shape.reduce(1, *)
        var fStride = [Int](repeating: 1, count: shape.count)
        for i in 1..<shape.count { fStride[i] = fStride[i - 1] * shape[i - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<n {
            var f = 0
            for i in 0..<shape.count { f += index[i] * fStride[i] }
            for k in 0..<size { dst[c * size + k] = src[f * size + k] }
            var ax = shape.count - 1
            while ax >= 0 { index[ax] += 1; if index[ax] < shape[ax] { break }; index[ax] = 0; ax -= 1 }
        }
        return dst
    }

    // MARK: Writing

    /// Encodes little-endian bytes as a format 1.0 file.
    public static func encode(shape: [Int], dtype: DType, bytes: [UInt8]) -> [UInt8] {
        let order = dtype.size == 1 ? "|" : "<"
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(order)\(dtype.rawValue)', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let len = header.utf8.count
        return [0x93] + Swift.Array("NUMPY".utf8) + [1, 0, UInt8(len & 0xff), UInt8(len >> 8)] + Swift.Array(header.utf8) + bytes
    }

    /// The `.npy` bytes of a float tensor (`<f4` or `<f8`, C order).
    public static func encode<T: RefScalar>(_ t: Tensor<T>) -> [UInt8] {
        let bytes = t.scalars.withUnsafeBytes { Swift.Array($0) }
        return encode(shape: t.shape, dtype: T.npyDType, bytes: bytes)
    }

    /// The `.npy` bytes of int32 values of `shape` (labels).
    public static func encode(int32s values: [Int32], shape: [Int]) -> [UInt8] {
        encode(shape: shape, dtype: .int32, bytes: values.withUnsafeBytes { Swift.Array($0) })
    }

    /// Writes `bytes` to `path` atomically, creating parent directories.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw TensorError.file(path: path, reason: "cannot write: \(systemReason(error))")
        }
    }

    /// The operating system's words for a Foundation file error (its POSIX cause),
    /// rather than Foundation's generic "The operation could not be completed".
    static func systemReason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        switch ns.code {
        case NSFileWriteNoPermissionError: return "permission denied"
        case NSFileWriteOutOfSpaceError: return "no space left on device"
        case NSFileWriteVolumeReadOnlyError: return "read-only file system"
        case NSFileWriteFileExistsError: return "a file is in the way"
        default: return "the file system refused the write (\(ns.domain) \(ns.code))"
        }
    }

    /// Writes a float tensor as `.npy` to `path` atomically, creating parent directories.
    public static func write<T: RefScalar>(_ t: Tensor<T>, to path: String) throws { try write(encode(t), to: path) }
}
