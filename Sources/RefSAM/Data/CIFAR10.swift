import Foundation
import RefTensor

/// CIFAR-10 from the binary version: data_batch_1..5.bin and test_batch.bin (in the
/// directory or its cifar-10-batches-bin/), or the cifar-10-binary.tar.gz archive.
/// Record: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (row-major 32x32).
public enum CIFAR10 {
    static let recordSize = 1 + 3072

    static func names(_ split: DatasetSplit) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

    /// The CIFAR-10 binary version from the first of `directories` that holds it (the `.tar.gz` as downloaded, or its extracted batches).
    public static func load(split: DatasetSplit, directories: [String]) throws -> ImageDataset {
        var looked: [String] = []
        let fm = FileManager.default
        for dir in directories {
            for sub in [dir, (dir as NSString).appendingPathComponent("cifar-10-batches-bin")] {
                let paths = names(split).map { (sub as NSString).appendingPathComponent($0) }
                looked.append(paths[0] + (paths.count > 1 ? " ... " + (paths.last! as NSString).lastPathComponent : ""))
                if paths.allSatisfy({ fm.fileExists(atPath: $0) }) {
                    var records: [(String, [UInt8])] = []
                    for p in paths {
                        guard let d = fm.contents(atPath: p) else { throw DataError.malformed(file: p, reason: "cannot read the file") }
                        records.append((p, [UInt8](d)))
                    }
                    return try parse(records)
                }
            }
            let archive = (dir as NSString).appendingPathComponent("cifar-10-binary.tar.gz")
            looked.append(archive)
            if fm.fileExists(atPath: archive) {
                let tar = try Datasets.readMaybeGzip(archive)
                let members = try Tar.members(tar, path: archive)
                let wanted = try names(split).map { name -> (String, [UInt8]) in
                    guard let m = members.first(where: { ($0.name as NSString).lastPathComponent == name }) else {
                        throw DataError.malformed(file: archive, reason: "no member \(name)")
                    }
                    return (archive + ":" + m.name, m.bytes)
                }
                return try parse(wanted)
            }
        }
        throw DataError.notFound(what: "CIFAR-10 \(split.rawValue) files", looked: looked, hint:
                        "Download the binary version, https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, into "
                        + "data/cifar10/ (the archive as is, or extracted), or set config.data_dir.")
    }

    static func parse(_ files: [(String, [UInt8])]) throws -> ImageDataset {
        var pixels: [UInt8] = [], labels: [Int32] = []
        for (path, bytes) in files {
            guard bytes.count % recordSize == 0, !bytes.isEmpty else {
                throw DataError.malformed(file: path, reason: "\(bytes.count) bytes is not a whole number of \(recordSize)-byte records")
            }
            let n = bytes.count / recordSize
            pixels.reserveCapacity(pixels.count + n * 3072)
            for r in 0..<n {
                let base = r * recordSize
                guard bytes[base] < 10 else { throw DataError.malformed(file: path, reason: "record \(r) has label \(bytes[base]) (expected 0-9)") }
                labels.append(Int32(bytes[base]))
                for i in 0..<1024 { for c in 0..<3 { pixels.append(bytes[base + 1 + c * 1024 + i]) } }   // CHW -> HWC
            }
        }
        return ImageDataset(name: .cifar10, pixels: pixels, labels: labels, imageShape: [32, 32, 3], numClasses: 10)
    }
}

/// A minimal ustar reader (regular files only).
enum Tar {
    static func members(_ b: [UInt8], path: String) throws -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        var p = 0
        while p + 512 <= b.count {
            if b[p..<(p + 512)].allSatisfy({ $0 == 0 }) { break }
            let name = String(decoding: b[p..<(p + 100)].prefix { $0 != 0 }, as: UTF8.self)
            let sizeText = String(decoding: b[(p + 124)..<(p + 136)].prefix { $0 != 0 && $0 != 32 }, as: UTF8.self)
            guard let size = Int(sizeText, radix: 8), size >= 0 else {
                throw DataError.malformed(file: path, reason: "corrupt tar header at byte \(p) (member size '\(sizeText.prefix(12))')")
            }
            let type = b[p + 156]
            let start = p + 512
            guard size <= b.count - start else { throw DataError.malformed(file: path, reason: "tar member \(name) is cut short") }
            if type == UInt8(ascii: "0") || type == 0 { out.append((name, Array(b[start..<(start + size)]))) }
            p = start + (size + 511) / 512 * 512
        }
        return out
    }
}
