import Foundation
import RefTensor

/// ImageNet, pre-decoded (JPEG decoding is out of scope): in the data directory,
/// `train_images.npy` uint8 [N, 224, 224, 3], `train_labels.npy` int32/int64 [N],
/// `val_images.npy`, `val_labels.npy`. tools/imagenet_to_npy.py writes them from the
/// usual class-folder layout (resize shorter side to 256, centre crop 224).
public enum ImageNetArrays {
    /// The pre-decoded ImageNet arrays (`tools/imagenet_to_npy.py`) from the first of `directories` that holds them.
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
            } catch let TensorError.file(path, reason) { throw DataError.malformed(file: path, reason: reason) }
            return try dataset(images: images, imagesPath: ip, labels: labels, labelsPath: lp)
        }
        throw DataError.notFound(what: "ImageNet \(split.rawValue) arrays", looked: looked, hint:
                        "Convert the dataset with tools/imagenet_to_npy.py into data/imagenet2012/, or set config.data_dir.")
    }

    /// Checks decoded arrays (uint8 [N, H, W, 3] images, N labels in 0..<1000) and makes the dataset.
    static func dataset(images: Npy.Array, imagesPath ip: String, labels: [Int32], labelsPath lp: String) throws -> ImageDataset {
        guard images.dtype == .uint8, images.shape.count == 4, images.shape[3] == 3 else {
            throw DataError.malformed(file: ip, reason: "expected uint8 [N, H, W, 3], got \(images.dtype) \(images.shape)")
        }
        guard images.shape[0] == labels.count else { throw DataError.malformed(file: lp, reason: "holds \(labels.count) labels but \(ip) has \(images.shape[0]) images") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= 1000 }) { throw DataError.malformed(file: lp, reason: "label \(bad) outside 0..<1000") }
        return ImageDataset(name: .imagenet2012, pixels: images.bytes, labels: labels, imageShape: Array(images.shape[1...]), numClasses: 1000)
    }
}
