import RefTensor

/// The original's ImageNet geometry (input_pipeline.py, itself Flax's ImageNet
/// example): where to crop an image, and TensorFlow's bicubic resize of the crop to
/// 224 x 224.
///
/// Training, `_decode_and_random_crop`: `tf.image.sample_distorted_bounding_box` with
/// the whole image as the object, `min_object_covered = 0.1`, aspect ratio (width /
/// height) in [3/4, 4/3], area in [0.08, 1] of the image, 10 attempts. Each attempt
/// draws an aspect ratio a uniformly, then a height uniformly among the integers from
/// round(sqrt(0.08 A / a)) to round(sqrt(A / a)) (capped so the width fits), width =
/// round(a h); an attempt that misses the area range after a one-pixel correction, or
/// covers less than 10% of the image, fails. The offsets are uniform. When all 10 fail,
/// or the crop is the whole image, the evaluation crop is used instead.
///
/// Evaluation, `_decode_and_center_crop`: a square of side
/// int(224 / (224 + 32) * min(H, W)) at offsets ((H - side + 1) / 2, (W - side + 1) / 2).
///
/// The law is TensorFlow's (its `GenerateRandomCrop`), drawn from this project's
/// Philox streams: the same distribution, not the same bits. It is applied in the
/// pixel grid of the stored image (tools/imagenet_to_npy.py keeps the whole image,
/// shorter side at most 256): the crop law is scale-free, its integer rounding is not.
public enum ImageNetCrop {
    /// A window of an image, in pixels.
    public struct Window: Equatable, Sendable {
        /// Top row and left column.
        public var y: Int, x: Int
        /// Rows and columns.
        public var height: Int, width: Int
    }

    /// Side of the output image.
    public static let imageSize = 224
    /// The evaluation crop keeps 224 / (224 + 32) of the shorter side.
    public static let cropPadding = 32
    /// Aspect-ratio range (width / height) of training crops.
    public static let aspectRange: ClosedRange<Float> = 0.75...(4.0 / 3.0)
    /// Area range of training crops, as fractions of the image.
    public static let areaRange: ClosedRange<Float> = 0.08...1
    /// Smallest fraction of the image a training crop must cover (`min_object_covered`).
    public static let minObjectCovered: Float = 0.1
    /// Attempts before falling back to the evaluation crop.
    public static let maxAttempts = 10

    /// The evaluation crop of an image of `height` x `width`.
    public static func centerWindow(height: Int, width: Int) -> Window {
        let side = Int(Float(Double(imageSize) / Double(imageSize + cropPadding)) * Float(min(height, width)))
        return Window(y: (height - side + 1) / 2, x: (width - side + 1) / 2, height: side, width: side)
    }

    /// A training crop of an image of `height` x `width` (see the type's description).
    public static func randomWindow(height: Int, width: Int, _ rng: inout RandomGenerator) -> Window {
        for _ in 0..<maxAttempts {
            let aspect = Float(rng.uniform()) * (aspectRange.upperBound - aspectRange.lowerBound) + aspectRange.lowerBound
            if let w = attempt(height: height, width: width, aspect: aspect, &rng),
               Float(w.height * w.width) / Float(height * width) >= minObjectCovered {
                if w.height == height && w.width == width { break }     // the whole image: the original falls back
                return w
            }
        }
        return centerWindow(height: height, width: width)
    }

    /// One attempt at a crop of aspect ratio `aspect`, as TensorFlow's GenerateRandomCrop.
    static func attempt(height: Int, width: Int, aspect: Float, _ rng: inout RandomGenerator) -> Window? {
        let imageArea = Float(width) * Float(height)
        let minArea = areaRange.lowerBound * imageArea, maxArea = areaRange.upperBound * imageArea
        func round(_ v: Float) -> Int { Int(v.rounded(.toNearestOrEven)) }
        var h = round((minArea / aspect).squareRoot())
        var maxH = round((maxArea / aspect).squareRoot())
        if round(Float(maxH) * aspect) > width {
            maxH = Int((Float(width) + 0.5 - 0.0000001) / aspect)
            if round(Float(maxH) * aspect) > width { maxH -= 1 }
        }
        maxH = min(maxH, height)
        h = min(h, maxH)
        if h < maxH { h += rng.uniform(below: maxH - h + 1) }
        var w = round(Float(h) * aspect)
        var area = Float(w * h)
        if area < minArea { h += 1; w = round(Float(h) * aspect); area = Float(w * h) }
        if area > maxArea { h -= 1; w = round(Float(h) * aspect); area = Float(w * h) }
        guard area >= minArea, area <= maxArea, w <= width, h <= height, w > 0, h > 0 else { return nil }
        let y = h < height ? rng.uniform(below: height - h) : 0
        let x = w < width ? rng.uniform(below: width - w) : 0
        return Window(y: y, x: x, height: h, width: w)
    }
}
