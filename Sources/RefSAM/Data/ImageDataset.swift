import Foundation
import RefTensor

/// A labelled image set held as uint8 pixels, NHWC.
public struct ImageDataset: Sendable {
    public var name: String
    public var pixels: [UInt8]
    public var labels: [Int32]
    public var imageShape: [Int]           // [H, W, C]
    public var numClasses: Int
    public var count: Int { labels.count }
    public var imageSize: Int { imageShape.reduce(1, *) }

    public init(name: String, pixels: [UInt8], labels: [Int32], imageShape: [Int], numClasses: Int) {
        self.name = name; self.pixels = pixels; self.labels = labels; self.imageShape = imageShape; self.numClasses = numClasses
    }

    /// The first `n` examples (for quick runs and tests).
    public func prefix(_ n: Int) -> ImageDataset { subset(0..<min(n, count)) }

    /// The examples in `range`.
    public func subset(_ range: Range<Int>) -> ImageDataset {
        ImageDataset(name: name, pixels: Array(pixels[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                     labels: Array(labels[range]), imageShape: imageShape, numClasses: numClasses)
    }
}

/// A data problem: names the file and what is wrong, or every place looked at.
public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public enum DatasetSplit: String, Sendable { case train, test }

/// Where the project's files are: the working directory, the directories above the
/// executable, and the source checkout this binary was built from.
public enum ProjectPaths {
    public static var candidates: [String] {
        var c = [FileManager.default.currentDirectoryPath]
        var exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 { c.append(exe.path); exe = exe.deletingLastPathComponent() }
        c.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path)
        var seen = Set<String>()
        return c.filter { seen.insert($0).inserted }
    }

    /// The directory that holds `data/`, or the working directory.
    public static var root: String {
        candidates.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("data")) }
            ?? FileManager.default.currentDirectoryPath
    }
}

public enum Datasets {
    /// Directories searched for `dataset`: `config.data_dir` alone when given,
    /// otherwise `data/<dataset>` under every project location.
    public static func searchDirectories(dataset: String, dataDir: String?) -> [String] {
        if let dataDir { return [dataDir] }
        let sub = dataset == "imagenet2012" ? "imagenet2012" : dataset
        return ProjectPaths.candidates.map { (($0 as NSString).appendingPathComponent("data") as NSString).appendingPathComponent(sub) }
    }

    public static func load(_ dataset: String, split: DatasetSplit, dataDir: String?) throws -> ImageDataset {
        let dirs = searchDirectories(dataset: dataset, dataDir: dataDir)
        switch dataset {
        case "mnist": return try MNIST.load(split: split, directories: dirs)
        case "cifar10": return try CIFAR10.load(split: split, directories: dirs)
        case "imagenet2012": return try ImageNetArrays.load(split: split, directories: dirs)
        default: throw DataError("unknown dataset '\(dataset)'")
        }
    }

    /// Reads a file, gunzipping it when it is gzip.
    static func readMaybeGzip(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): cannot read the file") }
        let bytes = [UInt8](data)
        guard Inflate.isGzip(bytes) else { return bytes }
        do { return try Inflate.gunzip(bytes) } catch { throw DataError("\(path): \(error)") }
    }
}

/// MNIST from the IDX files (raw or .gz): pixels 0-255, labels 0-9.
public enum MNIST {
    static func files(_ split: DatasetSplit) -> (String, String) {
        split == .train ? ("train-images-idx3-ubyte", "train-labels-idx1-ubyte") : ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }

    public static func load(split: DatasetSplit, directories: [String]) throws -> ImageDataset {
        let (imagesName, labelsName) = files(split)
        var looked: [String] = []
        for dir in directories {
            func find(_ base: String) -> String? {
                for name in [base, base + ".gz"] {
                    let p = (dir as NSString).appendingPathComponent(name)
                    looked.append(p)
                    if FileManager.default.fileExists(atPath: p) { return p }
                }
                return nil
            }
            guard let imagesPath = find(imagesName), let labelsPath = find(labelsName) else { continue }
            return try parse(images: Datasets.readMaybeGzip(imagesPath), imagesPath: imagesPath,
                             labels: Datasets.readMaybeGzip(labelsPath), labelsPath: labelsPath)
        }
        throw DataError("MNIST \(split.rawValue) files not found. Looked at:\n  " + looked.joined(separator: "\n  ")
                        + "\nThe project ships them in data/mnist/; or set config.data_dir to a directory holding "
                        + "\(imagesName)[.gz] and \(labelsName)[.gz] (http://yann.lecun.com/exdb/mnist/).")
    }

    static func bigEndian32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
    }

    public static func parse(images: [UInt8], imagesPath: String, labels: [UInt8], labelsPath: String) throws -> ImageDataset {
        guard images.count >= 16 else { throw DataError("\(imagesPath): too short for an IDX image header (\(images.count) bytes)") }
        guard bigEndian32(images, 0) == 0x0000_0803 else {
            throw DataError("\(imagesPath): bad magic \(String(bigEndian32(images, 0), radix: 16)) (expected 803: IDX uint8 images)")
        }
        let n = bigEndian32(images, 4), rows = bigEndian32(images, 8), cols = bigEndian32(images, 12)
        guard images.count == 16 + n * rows * cols else {
            throw DataError("\(imagesPath): header says \(n) images of \(rows)x\(cols) (\(16 + n * rows * cols) bytes), file has \(images.count) bytes")
        }
        guard labels.count >= 8 else { throw DataError("\(labelsPath): too short for an IDX label header (\(labels.count) bytes)") }
        guard bigEndian32(labels, 0) == 0x0000_0801 else {
            throw DataError("\(labelsPath): bad magic \(String(bigEndian32(labels, 0), radix: 16)) (expected 801: IDX uint8 labels)")
        }
        let m = bigEndian32(labels, 4)
        guard labels.count == 8 + m else { throw DataError("\(labelsPath): header says \(m) labels, file holds \(labels.count - 8)") }
        guard m == n else { throw DataError("\(imagesPath) has \(n) images but \(labelsPath) has \(m) labels") }
        let lab = labels[8...].map { Int32($0) }
        if let bad = lab.first(where: { $0 > 9 }) { throw DataError("\(labelsPath): label \(bad) is not a digit") }
        return ImageDataset(name: "mnist", pixels: Array(images[16...]), labels: lab, imageShape: [rows, cols, 1], numClasses: 10)
    }
}

/// CIFAR-10 from the binary version: data_batch_1..5.bin and test_batch.bin (in the
/// directory or its cifar-10-batches-bin/), or the cifar-10-binary.tar.gz archive.
/// Record: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (row-major 32x32).
public enum CIFAR10 {
    static let recordSize = 1 + 3072

    static func names(_ split: DatasetSplit) -> [String] {
        split == .train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    }

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
                        guard let d = fm.contents(atPath: p) else { throw DataError("\(p): cannot read the file") }
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
                        throw DataError("\(archive): no member \(name)")
                    }
                    return (archive + ":" + m.name, m.bytes)
                }
                return try parse(wanted)
            }
        }
        throw DataError("CIFAR-10 \(split.rawValue) files not found. Looked at:\n  " + looked.joined(separator: "\n  ")
                        + "\nDownload the binary version, https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, into "
                        + "data/cifar10/ (the archive as is, or extracted), or set config.data_dir.")
    }

    static func parse(_ files: [(String, [UInt8])]) throws -> ImageDataset {
        var pixels: [UInt8] = [], labels: [Int32] = []
        for (path, bytes) in files {
            guard bytes.count % recordSize == 0, !bytes.isEmpty else {
                throw DataError("\(path): \(bytes.count) bytes is not a whole number of \(recordSize)-byte records")
            }
            let n = bytes.count / recordSize
            pixels.reserveCapacity(pixels.count + n * 3072)
            for r in 0..<n {
                let base = r * recordSize
                guard bytes[base] < 10 else { throw DataError("\(path): record \(r) has label \(bytes[base]) (expected 0-9)") }
                labels.append(Int32(bytes[base]))
                for i in 0..<1024 { for c in 0..<3 { pixels.append(bytes[base + 1 + c * 1024 + i]) } }   // CHW -> HWC
            }
        }
        return ImageDataset(name: "cifar10", pixels: pixels, labels: labels, imageShape: [32, 32, 3], numClasses: 10)
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
            guard let size = Int(sizeText, radix: 8) else { throw DataError("\(path): corrupt tar header at byte \(p)") }
            let type = b[p + 156]
            let start = p + 512
            guard start + size <= b.count else { throw DataError("\(path): tar member \(name) is cut short") }
            if type == UInt8(ascii: "0") || type == 0 { out.append((name, Array(b[start..<(start + size)]))) }
            p = start + (size + 511) / 512 * 512
        }
        return out
    }
}

/// ImageNet, pre-decoded (JPEG decoding is out of scope): in the data directory,
/// `train_images.npy` uint8 [N, 224, 224, 3], `train_labels.npy` int32/int64 [N],
/// `val_images.npy`, `val_labels.npy`. tools/imagenet_to_npy.py writes them from the
/// usual class-folder layout (resize shorter side to 256, centre crop 224).
public enum ImageNetArrays {
    public static func load(split: DatasetSplit, directories: [String]) throws -> ImageDataset {
        let prefix = split == .train ? "train" : "val"
        var looked: [String] = []
        for dir in directories {
            let ip = (dir as NSString).appendingPathComponent("\(prefix)_images.npy")
            let lp = (dir as NSString).appendingPathComponent("\(prefix)_labels.npy")
            looked.append(ip); looked.append(lp)
            guard FileManager.default.fileExists(atPath: ip), FileManager.default.fileExists(atPath: lp) else { continue }
            let images: Npy.Array, labels: [Int32]
            do {
                images = try Npy.read(contentsOf: ip)
                labels = try Npy.read(contentsOf: lp).int32s(name: lp)
            } catch let e as NpyError { throw DataError("\(e)") }
            guard images.dtype == .uint8, images.shape.count == 4, images.shape[3] == 3 else {
                throw DataError("\(ip): expected uint8 [N, H, W, 3], got \(images.dtype) \(images.shape)")
            }
            guard images.shape[0] == labels.count else { throw DataError("\(ip) has \(images.shape[0]) images but \(lp) has \(labels.count) labels") }
            if let bad = labels.first(where: { $0 < 0 || $0 >= 1000 }) { throw DataError("\(lp): label \(bad) outside 0..<1000") }
            return ImageDataset(name: "imagenet2012", pixels: images.bytes, labels: labels, imageShape: Array(images.shape[1...]), numClasses: 1000)
        }
        throw DataError("ImageNet \(split.rawValue) arrays not found. Looked at:\n  " + looked.joined(separator: "\n  ")
                        + "\nConvert the dataset with tools/imagenet_to_npy.py into data/imagenet2012/, or set config.data_dir.")
    }
}
