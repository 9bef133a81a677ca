import Foundation
import RefTensor

/// MNIST from the IDX files (raw or .gz): pixels 0-255, labels 0-9.
public enum MNIST {
    static func files(_ split: DatasetSplit) -> (String, String) {
        split == .train ? ("train-images-idx3-ubyte", "train-labels-idx1-ubyte") : ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    }

    /// The MNIST IDX files (raw or gzip) from the first of `directories` that holds them.
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
        throw DataError.notFound(what: "MNIST \(split.rawValue) files", looked: looked, hint:
                        "The project ships them in data/mnist/; or set config.data_dir to a directory holding "
                        + "\(imagesName)[.gz] and \(labelsName)[.gz] (http://yann.lecun.com/exdb/mnist/).")
    }

    static func bigEndian32(_ b: [UInt8], _ at: Int) -> Int {
        Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
    }

    /// Decodes IDX image and label files, checking magic numbers, sizes, counts and labels; the paths name errors.
    /// `images` is consumed: its bytes become the dataset's pixels without a copy when
    /// the caller hands over the only reference (as `load` does with the decoded file).
    public static func parse(images: consuming [UInt8], imagesPath: String, labels: [UInt8], labelsPath: String) throws -> ImageDataset {
        guard images.count >= 16 else { throw DataError.malformed(file: imagesPath, reason: "too short for an IDX image header (\(images.count) bytes)") }
        guard bigEndian32(images, 0) == 0x0000_0803 else {
            throw DataError.malformed(file: imagesPath, reason: "bad magic \(String(bigEndian32(images, 0), radix: 16)) (expected 803: IDX uint8 images)")
        }
        let n = bigEndian32(images, 4), rows = bigEndian32(images, 8), cols = bigEndian32(images, 12)
        // The header's sizes are untrusted: their product is computed without overflow.
        let pixelCount = ElementCount.of([n, rows, cols])
        guard pixelCount == images.count - 16 else {
            let claimed = pixelCount.map { "\($0 + 16) bytes" } ?? "more bytes than can exist"
            throw DataError.malformed(file: imagesPath, reason: "header says \(n) images of \(rows)x\(cols) (\(claimed)), file has \(images.count) bytes")
        }
        guard labels.count >= 8 else { throw DataError.malformed(file: labelsPath, reason: "too short for an IDX label header (\(labels.count) bytes)") }
        guard bigEndian32(labels, 0) == 0x0000_0801 else {
            throw DataError.malformed(file: labelsPath, reason: "bad magic \(String(bigEndian32(labels, 0), radix: 16)) (expected 801: IDX uint8 labels)")
        }
        let m = bigEndian32(labels, 4)
        guard labels.count == 8 + m else { throw DataError.malformed(file: labelsPath, reason: "header says \(m) labels, file holds \(labels.count - 8)") }
        guard m == n else { throw DataError.malformed(file: labelsPath, reason: "holds \(m) labels but \(imagesPath) has \(n) images") }
        let lab = labels[8...].map { Int32($0) }
        if let bad = lab.first(where: { $0 > 9 }) { throw DataError.malformed(file: labelsPath, reason: "label \(bad) is not a digit") }
        var pixels = images
        pixels.removeFirst(16)          // in place (the header): the array is ours alone
        return ImageDataset(name: .mnist, pixels: pixels, labels: lab, imageShape: [rows, cols, 1], numClasses: 10)
    }
}
