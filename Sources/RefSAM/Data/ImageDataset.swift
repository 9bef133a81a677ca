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
