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
        ImageDataset(name: name, pixels: Array(pixels[(range.lowerBound * imageSize)..<(range.upperBound * imageSize)]),
                     labels: Array(labels[range]), imageShape: imageShape, numClasses: numClasses)
    }
}

/// Which half of a dataset.
public enum DatasetSplit: String, Sendable { case train, test }
