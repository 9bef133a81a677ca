import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Decoded copies of gzip'd data files, kept beside them, so that a later run reads
/// the bytes instead of inflating them again (as torchvision keeps MNIST's extracted
/// files and TFDS its prepared records): inflating MNIST's training images is most
/// of a one-epoch run's start-up.
///
/// A copy is `DIR/.ref-run-decoded/NAME` (NAME without ".gz"), laid out as
///
///     "RRDECOD1"  8 bytes, the format
///     UInt64 LE   the gzip file's size
///     8 bytes     the gzip file's trailer (CRC-32 and size of the decoded bytes)
///     ...         the decoded bytes
///
/// and it is used only when the gzip file still has that size and trailer and the
/// copy's bytes still have that CRC-32: the same check `gunzip` applies to what it
/// decodes, so a copy is exactly the bytes the gzip file decodes to, or it is not
/// used. Only non-empty files whose last member's trailer covers every byte are copied.
/// Copies are written whole under a temporary name and then renamed, so a crash or
/// a second process never leaves a partial copy; a directory that cannot be written
/// gets no copy, silently: the copy only saves time.
enum DecodedCache {
    static let directoryName = ".ref-run-decoded"
    static let magic = Array("RRDECOD1".utf8)
    static let headerSize = 24

    /// Where the decoded copy of the gzip file at `path` lives.
    static func copyPath(for path: String) -> String {
        let dir = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(directoryName)
        var name = (path as NSString).lastPathComponent
        if name.hasSuffix(".gz") { name.removeLast(3) }
        return (dir as NSString).appendingPathComponent(name)
    }

    /// The gzip file's size and its last 8 bytes (CRC-32 and ISIZE of the last member).
    static func fingerprint(ofGzip path: String) -> (size: UInt64, trailer: [UInt8])? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 18 else { return nil }
        var trailer = [UInt8](repeating: 0, count: 8)
        let got = trailer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, off_t(st.st_size - 8)) }
        return got == 8 ? (UInt64(st.st_size), trailer) : nil
    }

    static func header(size: UInt64, trailer: [UInt8]) -> [UInt8] {
        magic + (0..<8).map { UInt8(truncatingIfNeeded: size >> (8 * UInt64($0))) } + trailer
    }

    /// The decoded bytes of the gzip file at `path` from its copy, or nil when there is
    /// no copy or it does not match the file (see the type's comment).
    static func cachedBytes(forGzip path: String) -> [UInt8]? {
        guard let (size, trailer) = fingerprint(ofGzip: path) else { return nil }
        let count = Int(Inflate.littleEndian32(trailer, at: 4))
        guard count > 0 else { return nil }             // nothing to save: empty files get no copy
        let fd = open(copyPath(for: path), O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) == headerSize + count else { return nil }
        var head = [UInt8](repeating: 0, count: headerSize)
        guard head.withUnsafeMutableBytes({ h in fully(headerSize) { read(fd, h.baseAddress! + $0, headerSize - $0) } }),
              head == header(size: size, trailer: trailer) else { return nil }
        var ok = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, n in
            ok = fully(count) { read(fd, buffer.baseAddress! + $0, count - $0) }
            n = ok ? count : 0
        }
        guard ok, CRC32.checksum(bytes) == Inflate.littleEndian32(trailer, at: 0) else { return nil }
        return bytes
    }

    /// Keeps `decoded`, what `gzip` (the bytes of the file at `path`) inflated to, as its
    /// copy, when the last member's trailer covers every byte (its size is the whole
    /// output's: any earlier member is empty), so that its CRC-32, which `gunzip` has
    /// checked, is the whole output's. Errors are ignored.
    static func keep(_ decoded: [UInt8], gzip: [UInt8], path: String) {
        guard !decoded.isEmpty, decoded.count <= Int(UInt32.max), gzip.count >= 18,
              Inflate.littleEndian32(gzip, at: gzip.count - 4) == UInt32(decoded.count) else { return }
        let target = copyPath(for: path)
        let dir = (target as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temporary = target + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { return }
        let head = header(size: UInt64(gzip.count), trailer: Array(gzip.suffix(8)))
        let written = head.withUnsafeBytes { h in fully(head.count) { write(fd, h.baseAddress! + $0, head.count - $0) } }
            && decoded.withUnsafeBytes { d in fully(decoded.count) { write(fd, d.baseAddress! + $0, decoded.count - $0) } }
        close(fd)
        if !written || rename(temporary, target) != 0 { unlink(temporary) }
    }

    /// Runs `transfer(done)` (a read or write of the bytes from `done` on, returning how
    /// many it moved) until `n` bytes have moved; false on an error or end of file.
    static func fully(_ n: Int, _ transfer: (_ done: Int) -> Int) -> Bool {
        var done = 0
        while done < n {
            let r = transfer(done)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            done += r
        }
        return true
    }
}
