import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files that survive a crash at any moment: checkpoints and the run's metrics are
/// written through here. A write goes to a temporary file beside the target, is
/// fsynced and renamed over it, so a reader sees the old file or the new one, never
/// a part. Failures are `CheckpointError.io`, naming the file and the system's reason.
public enum DurableFile {
    /// Creates `path` and any missing parents (`mkdir -p`); a failure names the
    /// component that could not be made and the system's reason.
    public static func makeDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CheckpointError.io(file: path, reason: "cannot create the directory: a file is in the way") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw CheckpointError.io(file: path, reason: "cannot create the directory: \(String(cString: strerror(errno)))")
        }
    }

    /// Marks the temporary files `write` makes; `removeTemporaries` deletes what a
    /// killed process left.
    public static let temporaryMarker = ".tmp-"

    /// Writes `bytes` to `path` so that a crash at any moment leaves either the old file
    /// or the new one: a temporary file beside it (`path.tmp-PID`), fsync, rename, fsync
    /// of the directory. On failure (a full disk) the temporary file is removed.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temp = path + temporaryMarker + String(getpid())
        do {
            try writeDurably(bytes, to: temp)
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(temp)
            throw CheckpointError.io(file: temp, reason: "cannot rename to \(path): \(why)")
        }
        let dfd = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Deletes the temporary files an interrupted `write` left in `directory`
    /// (and Foundation's `.dat.nosync` ones from earlier versions); returns their names.
    @discardableResult
    public static func removeTemporaries(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        let stale = names.filter { $0.contains(temporaryMarker) || $0.hasPrefix(".dat.nosync") }
        for n in stale { try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(n)) }
        return stale
    }

    /// Writes every byte to a new file at `path` and fsyncs it.
    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(file: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                guard n > 0 else { throw CheckpointError.io(file: path, reason: "cannot write: \(String(cString: strerror(errno)))") }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw CheckpointError.io(file: path, reason: "cannot fsync: \(String(cString: strerror(errno)))") }
    }
}
