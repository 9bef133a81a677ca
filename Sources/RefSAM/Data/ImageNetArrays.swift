import Foundation
import RefTensor

/// ImageNet, decoded (JPEG decoding is out of scope), in the data directory as
/// tools/imagenet_to_npy.py writes it from the usual class-folder layout:
///
/// - whole images (the original's pipeline): `train_pixels.npy` uint8, every image's
///   H x W x 3 bytes one after another; `train_sizes.npy` int32 [N, 2] (H, W) per image;
///   `train_labels.npy` int32/int64 [N]; the same with `val_`. The pipeline takes the
///   original's crops from them (`ImageNetCrop`) and resizes them to 224 x 224
///   (`BicubicResize`).
/// - or, as earlier versions wrote, 224 x 224 centre crops: `train_images.npy` uint8
///   [N, 224, 224, 3] with `train_labels.npy`; training then only flips them.
public enum ImageNetArrays {
    /// The ImageNet split from the first of `directories` that holds it.
    public static func load(split: DatasetSplit, directories: [String]) throws -> ImageDataset {
        let prefix = split == .train ? "train" : "val"
        var looked: [String] = []
        let fm = FileManager.default
        for dir in directories {
            func file(_ name: String) -> String { (dir as NSString).appendingPathComponent("\(prefix)_\(name).npy") }
            let lp = file("labels")
            for set in [["pixels", "sizes"], ["images"]] {
                looked += set.map(file) + [lp]
                guard set.allSatisfy({ fm.fileExists(atPath: file($0)) }), fm.fileExists(atPath: lp) else { continue }
                do {
                    let labels = try Npy.read(contentsOf: lp).int32s(name: lp)
                    if set.count == 1 {
                        return try dataset(images: Npy.read(contentsOf: file("images")), imagesPath: file("images"), labels: labels, labelsPath: lp)
                    }
                    return try wholeImages(pixels: Npy.read(contentsOf: file("pixels")), pixelsPath: file("pixels"),
                                           sizes: Npy.read(contentsOf: file("sizes")), sizesPath: file("sizes"), labels: labels, labelsPath: lp)
                } catch let TensorError.file(path, reason) { throw DataError.malformed(file: path, reason: reason) }
            }
        }
        throw DataError.notFound(what: "ImageNet \(split.rawValue) arrays", looked: looked, hint:
                        "Convert the dataset with tools/imagenet_to_npy.py into data/imagenet2012/, or set config.data_dir.")
    }

    static func checkLabels(_ labels: [Int32], count: Int, _ lp: String, _ other: String, _ what: String) throws {
        guard count == labels.count else { throw DataError.malformed(file: lp, reason: "holds \(labels.count) labels but \(other) has \(count) \(what)") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= 1000 }) { throw DataError.malformed(file: lp, reason: "label \(bad) outside 0..<1000") }
    }

    /// Checks decoded arrays (uint8 [N, H, W, 3] images, N labels in 0..<1000) and makes the dataset.
    static func dataset(images: Npy.Array, imagesPath ip: String, labels: [Int32], labelsPath lp: String) throws -> ImageDataset {
        guard images.dtype == .uint8, images.shape.count == 4, images.shape[3] == 3 else {
            throw DataError.malformed(file: ip, reason: "expected uint8 [N, H, W, 3], got \(images.dtype) \(images.shape)")
        }
        try checkLabels(labels, count: images.shape[0], lp, ip, "images")
        return ImageDataset(name: .imagenet2012, pixels: images.bytes, labels: labels, imageShape: Array(images.shape[1...]), numClasses: 1000)
    }

    /// Checks whole images (uint8 pixels, int32 [N, 2] sizes that account for every
    /// byte, N labels in 0..<1000) and makes the dataset; its images come out 224 x 224.
    static func wholeImages(pixels: Npy.Array, pixelsPath pp: String, sizes: Npy.Array, sizesPath sp: String,
                            labels: [Int32], labelsPath lp: String) throws -> ImageDataset {
        guard pixels.dtype == .uint8, pixels.shape.count == 1 else {
            throw DataError.malformed(file: pp, reason: "expected uint8 [total bytes], got \(pixels.dtype) \(pixels.shape)")
        }
        guard sizes.shape.count == 2, sizes.shape[1] == 2 else {
            throw DataError.malformed(file: sp, reason: "expected [N, 2] (height, width) per image, got shape \(sizes.shape)")
        }
        let hw = try sizes.int32s(name: sp)
        try checkLabels(labels, count: sizes.shape[0], lp, sp, "image sizes")
        var sources: [ImageDataset.SourceImage] = [], offset = 0
        for i in 0..<sizes.shape[0] {
            let h = Int(hw[2 * i]), w = Int(hw[2 * i + 1])
            guard h >= 1, w >= 1, h <= 1 << 15, w <= 1 << 15 else {
                throw DataError.malformed(file: sp, reason: "image \(i) is \(h) x \(w): sides must be in 1...32768")
            }
            sources.append(.init(offset: offset, height: h, width: w))
            offset += h * w * 3
        }
        guard offset == pixels.shape[0] else {
            throw DataError.malformed(file: pp, reason: "holds \(pixels.shape[0]) bytes but the sizes in \(sp) account for \(offset)")
        }
        let size = ImageNetCrop.imageSize
        var d = ImageDataset(name: .imagenet2012, pixels: pixels.bytes, labels: labels, imageShape: [size, size, 3], numClasses: 1000)
        d.sources = sources
        return d
    }
}
