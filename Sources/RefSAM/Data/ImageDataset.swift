import Foundation
import RefSAMConfig

/// A labelled image set held as uint8 pixels, NHWC.
public struct ImageDataset: Sendable {
    /// Which dataset the images come from (it chooses normalisation and augmentation).
    public var name: DatasetName
    /// `count` images of `imageShape`, row-major, one byte per channel value.
    public var pixels: [UInt8]
    /// One class index per image, in `0..<numClasses`.
    public var labels: [Int32]
    /// [H, W, C] of one image.
    public var imageShape: [Int]
    /// The number of classes labels range over.
    public var numClasses: Int
    /// Images of differing sizes, before cropping (ImageNet as tools/imagenet_to_npy.py
    /// stores it): where each image's pixels start in `pixels`, and its size; the
    /// pipeline crops and resizes each to `imageShape`. Nil when every image already has
    /// `imageShape`.
    public var sources: [SourceImage]? = nil

    /// One stored image of its own size.
    public struct SourceImage: Equatable, Sendable {
        /// Index of its first byte in `pixels`.
        public var offset: Int
        /// Rows and columns (the channels are `imageShape[2]`).
        public var height: Int, width: Int
        /// An image of `height` x `width` whose bytes start at `offset`.
        public init(offset: Int, height: Int, width: Int) { self.offset = offset; self.height = height; self.width = width }
    }
    /// The number of images.
    public var count: Int { labels.count }
    /// H * W * C.
    public var imageSize: Int { imageShape.reduce(1, *) }

    /// A dataset of `labels.count` images; `pixels` must hold that many images of `imageShape`.
    public init(name: DatasetName, pixels: [UInt8], labels: [Int32], imageShape: [Int], numClasses: Int) {
        self.name = name; self.pixels = pixels; self.labels = labels; self.imageShape = imageShape; self.numClasses = numClasses
    }

    /// The first `n` examples (for quick runs and tests).
    public func prefix(_ n: Int) -> ImageDataset { subset(0..<min(max(n, 0), count)) }

    /// The examples in `range`.
    public func subset(_ range: Range<Int>) -> ImageDataset {
        guard let sources else {
            return ImageDataset(name: name, pixels: Array(pixels[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                                labels: Array(labels[range]), imageShape: imageShape, numClasses: numClasses)
        }
        let channels = imageShape[2]
        let start = range.isEmpty ? 0 : sources[range.lowerBound].offset
        let end = range.isEmpty ? 0 : sources[range.upperBound - 1].offset + sources[range.upperBound - 1].height * sources[range.upperBound - 1].width * channels
        var d = ImageDataset(name: name, pixels: Array(pixels[start..<end]), labels: Array(labels[range]), imageShape: imageShape,
                             numClasses: numClasses)
        d.sources = sources[range].map { SourceImage(offset: $0.offset - start, height: $0.height, width: $0.width) }
        return d
    }
}

/// Which half of a dataset.
public enum DatasetSplit: String, Sendable { case train, test }
