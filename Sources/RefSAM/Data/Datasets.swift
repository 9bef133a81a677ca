import Foundation
import RefSAMConfig

/// Where the project's files are: the working directory, the directories above the
/// executable, and the source checkout this binary was built from.
public enum ProjectPaths {
    /// Directories that may hold the project's `data/` folder, most likely first, without repeats.
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

/// Loads the datasets by name, from `config.data_dir` or the project's `data/` folder.
public enum Datasets {
    /// Directories searched for `dataset`: `dataDir` alone when given,
    /// otherwise `data/<dataset>` under every project location.
    public static func searchDirectories(dataset: DatasetName, dataDir: String?) -> [String] {
        if let dataDir { return [dataDir] }
        return ProjectPaths.candidates.map { (($0 as NSString).appendingPathComponent("data") as NSString).appendingPathComponent(dataset.rawValue) }
    }

    /// One split of `dataset`, from the first searched directory that holds it.
    public static func load(_ dataset: DatasetName, split: DatasetSplit, dataDir: String?) throws -> ImageDataset {
        let dirs = searchDirectories(dataset: dataset, dataDir: dataDir)
        switch dataset {
        case .mnist: return try MNIST.load(split: split, directories: dirs)
        case .cifar10: return try CIFAR10.load(split: split, directories: dirs)
        case .imagenet2012: return try ImageNetArrays.load(split: split, directories: dirs)
        }
    }

    /// Reads a file, gunzipping it when it is gzip: from its decoded copy when that
    /// matches it (`DecodedCache`), else by inflating it and keeping a copy.
    static func readMaybeGzip(_ path: String) throws -> [UInt8] {
        if let decoded = DecodedCache.cachedBytes(forGzip: path) { return decoded }
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError.malformed(file: path, reason: "cannot read the file") }
        let bytes = [UInt8](data)
        guard Inflate.isGzip(bytes) else { return bytes }
        let decoded: [UInt8]
        do { decoded = try Inflate.gunzip(bytes) } catch { throw DataError.malformed(file: path, reason: "\(error)") }
        DecodedCache.keep(decoded, gzip: bytes, path: path)
        return decoded
    }
}
