import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMData
@testable import RefTensor

/// Dataset readers and the input pipeline, including every malformed-input case.
final class DataTests: XCTestCase {
    func tempDir() throws -> String { try makeTemporaryDirectory("data") }

    /// A gzip member with stored (uncompressed) DEFLATE blocks, to build test files.
    static func gzipStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]
        var p = 0
        repeat {
            let n = min(65535, data.count - p)
            out.append(p + n == data.count ? 1 : 0)
            out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            out += data[p..<(p + n)]
            p += n
        } while p < data.count
        let crc = CRC32.checksum(data)
        for v in [crc, UInt32(truncatingIfNeeded: data.count)] { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        return out
    }

    /// A buffer longer than one part: its parts' CRCs (in parallel) joined by `combine`
    /// give the bytewise definition's CRC on 1 and 2 threads; `combine` alone joins
    /// splits at every kind of cut, empty halves included.
    func testCRC32OfPartsJoinedIsTheWholeCRC() throws {
        var long = [UInt8](repeating: 0, count: 2 * CRC32.part + 12_345)
        var state: UInt64 = 7
        for k in long.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            long[k] = UInt8(truncatingIfNeeded: state >> 33)
        }
        let expected = CRC32.checksumBytewise(long)
        let saved = Threads.count
        defer { try? Threads.use(threads: saved) }
        for threads in [1, 2] {
            try Threads.use(threads: threads)
            XCTAssertEqual(CRC32.checksum(long), expected, "\(threads) threads")
        }
        let bytes = Array(long.prefix(1000))
        for cut in [0, 1, 7, 8, 500, 999, 1000] {
            let a = Array(bytes[..<cut]), b = Array(bytes[cut...])
            XCTAssertEqual(CRC32.combine(CRC32.checksumBytewise(a), CRC32.checksumBytewise(b), secondLength: b.count),
                           CRC32.checksumBytewise(bytes), "cut at \(cut)")
        }
    }

    /// Slicing-by-8 against the bytewise definition (every length 0...40 and every start
    /// offset 0...9, so each tail and alignment), and the standard check value.
    func testCRC32SlicingMatchesTheBytewiseDefinition() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksumBytewise(Array("123456789".utf8)), 0xCBF4_3926)
        var state: UInt64 = 1
        func next() -> UInt8 { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return UInt8(state >> 56) }
        for n in 0...40 {
            let bytes = (0..<n).map { _ in next() }
            for start in 0...min(9, n) {
                XCTAssertEqual(CRC32.checksum(bytes, from: start), CRC32.checksumBytewise(bytes, from: start), "n \(n) start \(start)")
            }
        }
        let big = (0..<100_003).map { _ in next() }
        XCTAssertEqual(CRC32.checksum(big), CRC32.checksumBytewise(big))
    }

    static func idx(images: [[UInt8]], rows: Int, cols: Int) -> [UInt8] {
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        return be(0x803) + be(images.count) + be(rows) + be(cols) + images.flatMap { $0 }
    }

    static func idxLabels(_ labels: [UInt8]) -> [UInt8] {
        [0, 0, 8, 1, 0, 0, UInt8(labels.count >> 8), UInt8(labels.count & 0xff)] + labels
    }

    // MARK: MNIST

    /// The embedded test split: 10,000 28x28 images, all ten digits (counts from the MNIST documentation: 980 zeros).
    func testEmbeddedMNISTTestSplit() throws {
        let t = try MNIST.load(split: .test, directories: [Repo.mnist])
        XCTAssertEqual(t.count, 10_000)
        XCTAssertEqual(t.imageShape, [28, 28, 1])
        XCTAssertEqual(t.pixels.count, 10_000 * 784)
        XCTAssertEqual(t.labels.filter { $0 == 0 }.count, 980)
        XCTAssertEqual(t.labels.filter { $0 == 1 }.count, 1135)
        XCTAssertEqual(t.labels.prefix(10), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])   // the well-known first test labels
    }

    func testRawIDXFilesAndSubsetsWork() throws {
        let d = try tempDir()
        let imgs: [[UInt8]] = [[0, 255, 128, 1], [9, 8, 7, 6], [1, 1, 1, 1]]
        try Data(Self.idx(images: imgs, rows: 2, cols: 2)).write(to: URL(fileURLWithPath: d + "/train-images-idx3-ubyte"))
        try Data(Self.gzipStored(Self.idxLabels([3, 1, 4]))).write(to: URL(fileURLWithPath: d + "/train-labels-idx1-ubyte.gz"))
        let t = try MNIST.load(split: .train, directories: [d])
        XCTAssertEqual(t.labels, [3, 1, 4]); XCTAssertEqual(t.imageShape, [2, 2, 1]); XCTAssertEqual(t.pixels, imgs.flatMap { $0 })
        XCTAssertEqual(t.prefix(2).labels, [3, 1])
        // pixels / 255
        let p = DataPipeline<Float>(dataset: t, batchSize: 2, train: false, seed: 0)
        let b = p.batch(epoch: 0, index: 0, order: p.order(epoch: 0))
        let expected: [Float] = [0, 255, 128, 1, 9, 8, 7, 6].map { (v: Float) -> Float in v / 255 }
        XCTAssertEqual(b.images.scalars, expected)
    }

    func testMissingFilesListEveryPathLookedAt() throws {
        let a = try tempDir(), b = try tempDir()
        XCTAssertThrowsError(try MNIST.load(split: .train, directories: [a, b])) { e in
            let s = "\(e)"
            for p in [a + "/train-images-idx3-ubyte", a + "/train-images-idx3-ubyte.gz", b + "/train-images-idx3-ubyte.gz"] {
                XCTAssertTrue(s.contains(p), "missing \(p) in: \(s)")
            }
            XCTAssertTrue(s.contains("data_dir"), s)
        }
        XCTAssertThrowsError(try CIFAR10.load(split: .train, directories: [a])) { e in
            XCTAssertTrue("\(e)".contains(a + "/cifar-10-binary.tar.gz") && "\(e)".contains("cifar-10-binary.tar.gz"), "\(e)")
        }
        XCTAssertThrowsError(try ImageNetArrays.load(split: .test, directories: [a])) { e in
            XCTAssertTrue("\(e)".contains(a + "/val_images.npy") && "\(e)".contains("imagenet_to_npy.py"), "\(e)")
        }
    }

    func testMalformedMNISTFilesAreNamed() throws {
        let d = try tempDir()
        let good = Self.idx(images: [[1, 2, 3, 4], [5, 6, 7, 8]], rows: 2, cols: 2)
        let labels = Self.idxLabels([1, 2])
        func check(images: [UInt8], labels: [UInt8], _ expect: [String], gz: Bool = false) throws {
            try? FileManager.default.removeItem(atPath: d + "/train-images-idx3-ubyte")
            try? FileManager.default.removeItem(atPath: d + "/train-images-idx3-ubyte.gz")
            try Data(images).write(to: URL(fileURLWithPath: d + "/train-images-idx3-ubyte" + (gz ? ".gz" : "")))
            try Data(labels).write(to: URL(fileURLWithPath: d + "/train-labels-idx1-ubyte"))
            XCTAssertThrowsError(try MNIST.load(split: .train, directories: [d])) { e in
                for part in expect { XCTAssertTrue("\(e)".contains(part), "'\(e)' lacks '\(part)'") }
            }
        }
        var badMagic = good; badMagic[3] = 0x01
        try check(images: badMagic, labels: labels, ["train-images-idx3-ubyte", "bad magic"])
        try check(images: Array(good.dropLast(3)), labels: labels, ["train-images-idx3-ubyte", "header says 2 images"])
        try check(images: Array(good.prefix(10)), labels: labels, ["too short"])
        try check(images: good, labels: Self.idxLabels([1, 2, 3]), ["2 images", "3 labels"])
        try check(images: good, labels: Self.idxLabels([1, 12]), ["label 12"])
        let gz = Self.gzipStored(good)
        try check(images: Array(gz.dropLast(5)), labels: labels, ["train-images-idx3-ubyte.gz", "truncated"], gz: true)
        var corrupt = gz; corrupt[20] ^= 0xff
        try check(images: corrupt, labels: labels, ["train-images-idx3-ubyte.gz", "CRC-32"], gz: true)
    }

    // MARK: CIFAR-10

    /// One record per class c: label c, then the R, G, B planes filled with distinct values.
    static func cifarBatch(_ labels: [UInt8]) -> [UInt8] {
        labels.enumerated().flatMap { (r, l) -> [UInt8] in
            [l] + (0..<3072).map { i in UInt8((i / 1024 * 80 + (i % 1024) % 7 + r) & 0xff) }
        }
    }

    func testCIFARBinaryBatchesAndArchive() throws {
        let d = try tempDir()
        for i in 1...5 { try Data(Self.cifarBatch([UInt8(i), 0])).write(to: URL(fileURLWithPath: d + "/data_batch_\(i).bin")) }
        try Data(Self.cifarBatch([9])).write(to: URL(fileURLWithPath: d + "/test_batch.bin"))
        let train = try CIFAR10.load(split: .train, directories: [d])
        XCTAssertEqual(train.labels, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
        XCTAssertEqual(train.imageShape, [32, 32, 3])
        // CHW planes become HWC: pixel (0,0) of record 0 is (R, G, B) = (0, 80, 160); pixel 1 = (1, 81, 161).
        XCTAssertEqual(Array(train.pixels[0..<6]), [0, 80, 160, 1, 81, 161])
        // The same files inside cifar-10-binary.tar.gz (ustar, gzip).
        let a = try tempDir()
        var tar: [UInt8] = []
        for (name, data) in (1...5).map({ ("cifar-10-batches-bin/data_batch_\($0).bin", Self.cifarBatch([UInt8($0), 0])) })
            + [("cifar-10-batches-bin/test_batch.bin", Self.cifarBatch([9]))] {
            var h = [UInt8](repeating: 0, count: 512)
            for (i, c) in name.utf8.enumerated() { h[i] = c }
            for (i, c) in String(format: "%011o", data.count).utf8.enumerated() { h[124 + i] = c }
            h[156] = UInt8(ascii: "0")
            tar += h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        tar += [UInt8](repeating: 0, count: 1024)
        try Data(Self.gzipStored(tar)).write(to: URL(fileURLWithPath: a + "/cifar-10-binary.tar.gz"))
        let fromArchive = try CIFAR10.load(split: .train, directories: [a])
        XCTAssertEqual(fromArchive.labels, train.labels); XCTAssertEqual(fromArchive.pixels, train.pixels)
        XCTAssertEqual(try CIFAR10.load(split: .test, directories: [a]).labels, [9])
        // A cut record is refused, naming the file.
        try Data(Self.cifarBatch([1]).dropLast()).write(to: URL(fileURLWithPath: d + "/test_batch.bin"))
        XCTAssertThrowsError(try CIFAR10.load(split: .test, directories: [d])) { e in
            XCTAssertTrue("\(e)".contains("test_batch.bin") && "\(e)".contains("3073"), "\(e)")
        }
    }

    /// Normalisation (x - 255 mean) / (255 std) and augmentation: the crop reads the
    /// zero-padded pixel image, the flip mirrors columns; every draw from the seed.
    func testCIFARNormalisationAndAugmentation() throws {
        let pixels = (0..<3072).map { UInt8($0 % 251) }
        let ds = ImageDataset(name: .cifar10, pixels: pixels, labels: [3], imageShape: [32, 32, 3], numClasses: 10)
        let test = DataPipeline<Double>(dataset: ds, batchSize: 1, train: false, seed: 1)
        let x = test.batch(epoch: 0, index: 0, order: [0]).images
        XCTAssertEqual(x.scalars[0], (0 - 0.4914 * 255) / (0.2023 * 255), accuracy: 1e-12)
        XCTAssertEqual(x.scalars[5], (5 - 0.4465 * 255) / (0.2010 * 255), accuracy: 1e-12)
        let train = DataPipeline<Double>(dataset: ds, batchSize: 1, train: true, seed: 1)
        var sawShift = false, sawFlip = false
        for epoch in 0..<20 {
            let a = train.batch(epoch: epoch, index: 0, order: [0]).images
            XCTAssertEqual(a, train.batch(epoch: epoch, index: 0, order: [0]).images, "augmentation is a function of (seed, epoch, batch)")
            // Find the shift/flip that explains the augmented image, among the 9x9x2 possibilities.
            var explained = false
            for flip in [false, true] { for dy in -4...4 { for dx in -4...4 {
                var ok = true
                for y in 0..<32 where ok { for xx in 0..<32 where ok { for c in 0..<3 {
                    let xs = flip ? 31 - xx : xx, iy = y + dy, ix = xs + dx
                    let v = (iy >= 0 && iy < 32 && ix >= 0 && ix < 32) ? Double(pixels[(iy * 32 + ix) * 3 + c]) : 0
                    let mean = [0.4914, 0.4822, 0.4465][c] * 255, std = [0.2023, 0.1994, 0.2010][c] * 255
                    let expected: Double = (v - mean) / std
                    if abs(a.scalars[(y * 32 + xx) * 3 + c] - expected) > 1e-9 { ok = false; break }
                } } }
                if ok { explained = true; if dy != 0 || dx != 0 { sawShift = true }; if flip { sawFlip = true } }
            } } }
            XCTAssertTrue(explained, "epoch \(epoch): not a pad-4 crop plus optional flip")
        }
        XCTAssertTrue(sawShift && sawFlip)
    }

    // MARK: ImageNet arrays

    func testImageNetArraysLoadNormaliseAndAreChecked() throws {
        let d = try tempDir()
        let pixels: [UInt8] = (0..<(2 * 4 * 4 * 3)).map { UInt8($0) }
        try Npy.write(Npy.encode(shape: [2, 4, 4, 3], dtype: .uint8, bytes: pixels), to: d + "/val_images.npy")
        try Npy.write(Npy.encode(int32s: [7, 999], shape: [2]), to: d + "/val_labels.npy")
        let val = try ImageNetArrays.load(split: .test, directories: [d])
        XCTAssertEqual(val.labels, [7, 999]); XCTAssertEqual(val.imageShape, [4, 4, 3]); XCTAssertEqual(val.numClasses, 1000)
        let x = DataPipeline<Double>(dataset: val, batchSize: 2, train: false, seed: 0).batch(epoch: 0, index: 0, order: [0, 1]).images
        XCTAssertEqual(x.scalars[1], (1 - 0.456 * 255) / (0.224 * 255), accuracy: 1e-12)
        try Npy.write(Npy.encode(int32s: [7, 1000], shape: [2]), to: d + "/val_labels.npy")
        XCTAssertThrowsError(try ImageNetArrays.load(split: .test, directories: [d])) { e in XCTAssertTrue("\(e)".contains("1000"), "\(e)") }
        try Npy.write(Npy.encode(int32s: [7], shape: [1]), to: d + "/val_labels.npy")
        XCTAssertThrowsError(try ImageNetArrays.load(split: .test, directories: [d])) { e in
            XCTAssertTrue("\(e)".contains("2 images") && "\(e)".contains("1 labels"), "\(e)")
        }
        try Npy.write(Tensor<Float>.zeros([2, 4, 4, 3]), to: d + "/val_images.npy")
        XCTAssertThrowsError(try ImageNetArrays.load(split: .test, directories: [d])) { e in XCTAssertTrue("\(e)".contains("uint8"), "\(e)") }
    }

    // MARK: Pipeline

    /// 60,000 examples at batch 128: 468 full batches and one of 96; each epoch a fresh permutation.
    func testEpochsAreSeededPermutationsWithAPartialLastBatch() {
        let ds = ImageDataset(name: .mnist, pixels: [UInt8](repeating: 0, count: 60_000), labels: [Int32](repeating: 0, count: 60_000),
                              imageShape: [1, 1, 1], numClasses: 10)
        let p = DataPipeline<Float>(dataset: ds, batchSize: 128, train: true, seed: 1)
        XCTAssertEqual(p.batchesPerEpoch, 469)
        let o0 = p.order(epoch: 0), o1 = p.order(epoch: 1)
        XCTAssertEqual(o0.sorted(), Array(0..<60_000))
        XCTAssertNotEqual(o0, o1)
        XCTAssertEqual(o0, p.order(epoch: 0))
        XCTAssertEqual(p.batch(epoch: 0, index: 467, order: o0).labels.count, 128)
        XCTAssertEqual(p.batch(epoch: 0, index: 468, order: o0).labels.count, 96)
        XCTAssertEqual(DataPipeline<Float>(dataset: ds, batchSize: 128, train: false, seed: 1).order(epoch: 3), Array(0..<60_000))
    }
}
