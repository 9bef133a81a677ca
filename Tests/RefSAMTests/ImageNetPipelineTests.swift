import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMData
@testable import RefTensor

/// The original's ImageNet input: the crop law, the evaluation crop, TensorFlow's
/// bicubic resize, the shuffle buffer, and the whole-image arrays.
final class ImageNetPipelineTests: XCTestCase {
    // MARK: Crops

    /// Every training window lies in the image and is either the evaluation crop (the
    /// fallback) or has area >= 10% of the image (min_object_covered 0.1; the area range
    /// itself starts at 8%), aspect ratio round(a h) / h with a in [3/4, 4/3], and is not the
    /// whole image. The draws span the ranges.
    func testRandomCropsObeyTheLaw() {
        for (h, w) in [(375, 500), (500, 333), (256, 256), (224, 1000), (40, 30)] {
            var rng = RandomGenerator(seed: 5).derived(UInt64(h * 10_000 + w))
            let centre = ImageNetCrop.centerWindow(height: h, width: w)
            var fallbacks = 0, areas: [Double] = [], aspects: [Double] = []
            for _ in 0..<4000 {
                let c = ImageNetCrop.randomWindow(height: h, width: w, &rng)
                XCTAssertTrue(c.y >= 0 && c.x >= 0 && c.y + c.height <= h && c.x + c.width <= w, "\(c) outside \(h)x\(w)")
                if c == centre { fallbacks += 1; continue }
                let area = Double(c.height * c.width) / Double(h * w), aspect = Double(c.width) / Double(c.height)
                XCTAssertGreaterThanOrEqual(area, 0.1, "\(c) of \(h)x\(w)")
                XCTAssertLessThan(area, 1, "the whole image falls back to the centre crop")
                XCTAssertTrue(aspect >= 0.75 - 0.5 / Double(c.height) - 1e-9 && aspect <= 4.0 / 3 + 0.5 / Double(c.height) + 1e-9,
                              "aspect \(aspect) of \(c)")
                areas.append(area); aspects.append(aspect)
            }
            if h >= 224 && Double(max(h, w)) / Double(min(h, w)) < 2 {
                XCTAssertLessThan(fallbacks, 200, "\(h)x\(w): \(fallbacks) fallbacks in 4000")
                XCTAssertLessThan(areas.min()!, 0.13); XCTAssertGreaterThan(areas.max()!, 0.85)   // 500x333: at most 0.888
                XCTAssertLessThan(aspects.min()!, 0.77); XCTAssertGreaterThan(aspects.max()!, 1.30)
            }
        }
    }

    /// For a given aspect ratio, the height is uniform over the integers from
    /// round(sqrt(0.08 A / a)) to round(sqrt(A / a)) (capped by the image), computed here
    /// independently in Double, except that a height whose crop round(a h) x h falls
    /// short of 8% of the image moves up one row (TensorFlow's rounding correction).
    func testHeightIsUniformBetweenItsBounds() {
        let (h, w) = (300, 400)
        let aspect: Float = 1.2
        let area = Double(h * w), minArea = 0.08 * area
        let lo = Int((minArea / 1.2).squareRoot().rounded()), hi = min(h, Int((area / 1.2).squareRoot().rounded()))
        XCTAssertEqual(hi, 300)   // sqrt(120000 / 1.2) = 316 > 300 rows
        var expectedShare: [Int: Int] = [:]
        for height in lo...hi {
            let width = (1.2 * Double(height)).rounded(.toNearestOrEven)
            expectedShare[width * Double(height) < minArea ? height + 1 : height, default: 0] += 1
        }
        XCTAssertEqual(expectedShare[lo + 1], 2, "89 rows x 107 columns < 9600 pixels: moved to 90")
        var rng = RandomGenerator(seed: 9)
        var counts: [Int: Int] = [:], draws = 0
        for _ in 0..<40_000 {
            guard let c = ImageNetCrop.attempt(height: h, width: w, aspect: aspect, &rng) else { continue }
            counts[c.height, default: 0] += 1; draws += 1
        }
        XCTAssertEqual(draws, 40_000, "widths round(1.2 h) <= 360 always fit 400 columns")
        XCTAssertEqual(Set(counts.keys), Set(expectedShare.keys))
        let unit = Double(draws) / Double(hi - lo + 1)
        for (height, n) in counts {
            let e = unit * Double(expectedShare[height]!)
            XCTAssertEqual(Double(n), e, accuracy: 0.35 * e, "height \(height)")
        }
    }

    /// The original's evaluation crop, by its formula: side int(224 / 256 * min(H, W)),
    /// offsets ((H - side) + 1) // 2.
    func testCentreCrop() {
        XCTAssertEqual(ImageNetCrop.centerWindow(height: 500, width: 375), .init(y: 86, x: 24, height: 328, width: 328))
        XCTAssertEqual(ImageNetCrop.centerWindow(height: 256, width: 256), .init(y: 16, x: 16, height: 224, width: 224))
        XCTAssertEqual(ImageNetCrop.centerWindow(height: 224, width: 301), .init(y: 14, x: 53, height: 196, width: 196))
    }

    // MARK: Bicubic resize

    func image(_ h: Int, _ w: Int, _ c: Int, _ f: (Int, Int, Int) -> UInt8) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: h * w * c)
        for y in 0..<h { for x in 0..<w { for ch in 0..<c { p[(y * w + x) * c + ch] = f(y, x, ch) } } }
        return p
    }

    /// Keys' cubic (a = -0.5), written out: the definition the table samples.
    func keys(_ t: Double) -> Double {
        let x = abs(t), a = -0.5
        if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        return 0
    }

    func testBicubicResize() {
        // Same size: every sample falls on a pixel (weights 0, 1, 0, 0): a copy.
        let p = image(5, 7, 3) { y, x, c in UInt8((y * 37 + x * 11 + c * 5) % 256) }
        let same = p.withUnsafeBufferPointer {
            BicubicResize.resize($0, height: 5, width: 7, channels: 3, window: .init(y: 0, x: 0, height: 5, width: 7), outHeight: 5, outWidth: 7)
        }
        XCTAssertEqual(same, p.map { Float($0) })
        // A constant stays constant (weights renormalised at the borders).
        let flat = image(9, 9, 1) { _, _, _ in 77 }
        let up = flat.withUnsafeBufferPointer {
            BicubicResize.resize($0, height: 9, width: 9, channels: 1, window: .init(y: 2, x: 1, height: 5, width: 6), outHeight: 13, outWidth: 4)
        }
        for v in up { XCTAssertEqual(v, 77, accuracy: 1e-4) }
        // Halving a horizontal ramp: output i samples s = 2i + 0.5 (table step 512, exact),
        // and Keys' cubic reproduces a linear function where all taps are inside.
        let ramp = image(4, 16, 1) { _, x, _ in UInt8(10 * x + 3) }
        let half = ramp.withUnsafeBufferPointer {
            BicubicResize.resize($0, height: 4, width: 16, channels: 1, window: .init(y: 0, x: 0, height: 4, width: 16), outHeight: 2, outWidth: 8)
        }
        for i in 1..<7 { XCTAssertEqual(Double(half[i]), 10 * (2 * Double(i) + 0.5) + 3, accuracy: 1e-3, "column \(i)") }
        // Upscaling 4 -> 16 columns: s = (i + 0.5) / 4 - 0.5, fractions in steps of 1/4 (table-exact).
        // Interior columns against Keys' formula evaluated here, with the border rule (taps
        // outside get weight 0, the rest renormalised) for the edge columns.
        let row: [Double] = [12, 200, 35, 90]
        let small = image(1, 4, 1) { _, x, _ in UInt8(row[x]) }
        let wide = small.withUnsafeBufferPointer {
            BicubicResize.resize($0, height: 1, width: 4, channels: 1, window: .init(y: 0, x: 0, height: 1, width: 4), outHeight: 1, outWidth: 16)
        }
        for i in 0..<16 {
            let s = (Double(i) + 0.5) / 4 - 0.5, base = Int(s.rounded(.down))
            var num = 0.0, den = 0.0
            for j in (base - 1)...(base + 2) where j >= 0 && j < 4 { let k = keys(s - Double(j)); num += k * row[j]; den += k }
            XCTAssertEqual(Double(wide[i]), num / den, accuracy: 1e-3, "column \(i)")
        }
    }

    // MARK: Shuffle buffer

    func testShuffleBufferIsTFsBuffer() {
        let rng = RandomGenerator(seed: 3)
        XCTAssertEqual(ShuffleBuffer.positions(outputs: 0..<10, bufferSize: 1, rng: rng), Array(0..<10), "a buffer of one keeps the order")
        let out = ShuffleBuffer.positions(outputs: 0..<300, bufferSize: 5, rng: rng)
        XCTAssertEqual(Set(out).count, out.count, "a stream element is emitted once")
        for (t, p) in out.enumerated() { XCTAssertLessThanOrEqual(p, t + 4, "output \(t) took element \(p), not yet in the buffer") }
        // Everything that entered the buffer and was not emitted is still in it: 5 elements.
        XCTAssertEqual(Set(0..<305).subtracting(out).count, 5)
        XCTAssertEqual(out, ShuffleBuffer.positions(outputs: 0..<300, bufferSize: 5, rng: rng), "the seed fixes the order")
        XCTAssertNotEqual(out, Array(0..<300))
    }

    // MARK: Whole-image arrays and the pipeline

    func testWholeImagesLoadCropAndBatch() throws {
        let d = try makeTemporaryDirectory("imagenet")
        let sizes: [(Int, Int)] = [(300, 400), (250, 260), (230, 500)]
        var pixels: [UInt8] = []
        for (k, (h, w)) in sizes.enumerated() { pixels += image(h, w, 3) { y, x, c in UInt8((y * 3 + x * 7 + c * 50 + k * 90) % 256) } }
        try Npy.write(Npy.encode(shape: [pixels.count], dtype: .uint8, bytes: pixels), to: d + "/train_pixels.npy")
        try Npy.write(Npy.encode(int32s: sizes.flatMap { [Int32($0.0), Int32($0.1)] }, shape: [3, 2]), to: d + "/train_sizes.npy")
        try Npy.write(Npy.encode(int32s: [4, 500, 999], shape: [3]), to: d + "/train_labels.npy")
        let data = try ImageNetArrays.load(split: .train, directories: [d])
        XCTAssertEqual(data.imageShape, [224, 224, 3]); XCTAssertEqual(data.count, 3)
        XCTAssertEqual(data.sources?.map(\.offset), [0, 300 * 400 * 3, 300 * 400 * 3 + 250 * 260 * 3])

        // Evaluation: the centre crop of each image, resized, normalised.
        let sub = data.subset(1..<3)
        let eval = DataPipeline<Float>(dataset: sub, batchSize: 2, train: false, seed: 1).batch(epoch: 0, index: 0, order: [0, 1])
        XCTAssertEqual(eval.images.shape, [2, 224, 224, 3]); XCTAssertEqual(eval.labels, [500, 999])
        let window = ImageNetCrop.centerWindow(height: 230, width: 500)
        let resized = image(230, 500, 3) { y, x, c in UInt8((y * 3 + x * 7 + c * 50 + 2 * 90) % 256) }.withUnsafeBufferPointer {
            BicubicResize.resize($0, height: 230, width: 500, channels: 3, window: window, outHeight: 224, outWidth: 224)
        }
        let second = Array(eval.images.scalars[(224 * 224 * 3)...])
        XCTAssertEqual(second[5], (resized[5] - Float(0.406 * 255)) / Float(0.225 * 255), accuracy: 1e-5)

        // Training: full batches from the shuffle buffer, random crops, reproducible from the seed.
        let train = DataPipeline<Float>(dataset: data, batchSize: 2, train: true, seed: 1)
        XCTAssertEqual(train.batchesPerEpoch, 2)
        let o0 = train.order(epoch: 0), o1 = train.order(epoch: 1)
        XCTAssertEqual(o0.count, 4); XCTAssertEqual(o1.count, 4)
        XCTAssertTrue((o0 + o1).allSatisfy { (0..<3).contains($0) })
        let a = train.batch(epoch: 0, index: 1, order: o0), b = train.batch(epoch: 0, index: 1, order: o0)
        XCTAssertEqual(a.images.shape, [2, 224, 224, 3]); XCTAssertEqual(a.images.scalars, b.images.scalars)
        XCTAssertNotEqual(train.batch(epoch: 1, index: 1, order: o0).images.scalars, a.images.scalars, "crops are drawn per epoch")

        // Sizes that do not account for the bytes are named.
        try Npy.write(Npy.encode(int32s: [300, 400, 250, 260, 230, 499], shape: [3, 2]), to: d + "/train_sizes.npy")
        XCTAssertThrowsError(try ImageNetArrays.load(split: .train, directories: [d])) { e in
            XCTAssertTrue("\(e)".contains("train_pixels.npy") && "\(e)".contains("account for"), "\(e)")
        }
        try Npy.write(Npy.encode(int32s: [300, 400, 250, 0, 230, 500], shape: [3, 2]), to: d + "/train_sizes.npy")
        XCTAssertThrowsError(try ImageNetArrays.load(split: .train, directories: [d])) { e in
            XCTAssertTrue("\(e)".contains("image 1 is 250 x 0"), "\(e)")
        }
    }
}
