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
/// used. Only single-member, non-empty files are copied (their trailer covers every byte).
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

    static func littleEndian32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    /// The decoded bytes of the gzip file at `path` from its copy, or nil when there is
    /// no copy or it does not match the file (see the type's comment).
    static func cachedBytes(forGzip path: String) -> [UInt8]? {
        guard let (size, trailer) = fingerprint(ofGzip: path) else { return nil }
        let count = Int(littleEndian32(trailer, 4))
        guard count > 0 else { return nil }             // nothing to save: empty files get no copy
        let fd = open(copyPath(for: path), O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) == headerSize + count else { return nil }
        var head = [UInt8](repeating: 0, count: headerSize)
        guard head.withUnsafeMutableBytes({ readFully(fd, $0.baseAddress!, headerSize) }),
              head == header(size: size, trailer: trailer) else { return nil }
        var ok = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, n in
            ok = readFully(fd, buffer.baseAddress!, count)
            n = ok ? count : 0
        }
        guard ok, CRC32.checksum(bytes) == littleEndian32(trailer, 0) else { return nil }
        return bytes
    }

    /// Keeps `bytes`, what the gzip file at `path` decoded to, as its copy: when the file
    /// is one member (its trailer's CRC-32 and size cover all of `bytes`). Errors are ignored.
    static func keep(_ bytes: [UInt8], forGzip path: String) {
        guard !bytes.isEmpty, let (size, trailer) = fingerprint(ofGzip: path),
              Int(littleEndian32(trailer, 4)) == bytes.count & 0xFFFF_FFFF,
              CRC32.checksum(bytes) == littleEndian32(trailer, 0) else { return }
        let target = copyPath(for: path)
        let dir = (target as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let temporary = target + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { return }
        let head = header(size: size, trailer: trailer)
        let written = head.withUnsafeBytes { writeFully(fd, $0.baseAddress!, head.count) }
            && bytes.withUnsafeBytes { writeFully(fd, $0.baseAddress!, bytes.count) }
        close(fd)
        if !written || rename(temporary, target) != 0 { unlink(temporary) }
    }

    static func readFully(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        var done = 0
        while done < n {
            let r = read(fd, p + done, n - done)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            done += r
        }
        return true
    }

    static func writeFully(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Bool {
        var done = 0
        while done < n {
            let r = write(fd, p + done, n - done)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            done += r
        }
        return true
    }
}
