import RefSAMConfig
import RefTensor

/// Turns a dataset into batches for training or evaluation, as the original's input
/// pipeline does:
/// - training: each epoch is one pass in a fresh order drawn from the seed; batches of
///   `batchSize`, the last one partial (60,000 MNIST examples at 128: 468 full, one of 96);
///   CIFAR-10 is augmented (zero-pad 4 in pixel space, random 32x32 crop, random
///   horizontal flip); every draw comes from the seed;
/// - ImageNet training: the repeated set through a 2,000-example shuffle buffer
///   (`ShuffleBuffer`), ceil(N / batchSize) full batches per epoch; each image a random
///   crop (`ImageNetCrop.randomWindow`) resized to 224 x 224 (`BicubicResize`) and
///   flipped at random. Stored 224 x 224 crops (the older format) are only flipped;
/// - evaluation: the whole set in order, no augmentation; ImageNet's whole images are
///   centre-cropped (`ImageNetCrop.centerWindow`) and resized;
/// - pixels: MNIST x / 255; CIFAR-10 (x - 255 mean) / (255 std) per channel with mean
///   (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010); ImageNet likewise with
///   (0.485, 0.456, 0.406), (0.229, 0.224, 0.225).
public struct DataPipeline<T: RefScalar> {
    /// The examples (pixels and original labels).
    public let dataset: ImageDataset
    /// Examples per batch (the last batch of an epoch may hold fewer).
    public let batchSize: Int
    /// Training (shuffled, augmented) or evaluation (in order, as is).
    public let train: Bool
    /// Seeds the shuffle and the augmentation.
    public let seed: UInt64
    /// Labels used for training (after label noise).
    public let labels: [Int32]
    /// (pixel - mean) / std for each of the 256 pixel values of each channel (index
    /// pixel * channels + channel), and the value of a zero-padded pixel per channel:
    /// computed once, with the same operations as per pixel, so the same bits.
    let normalized: [T], padding: [T]

    /// A pipeline over `dataset`; `labels` replaces its labels (label noise) when given.
    public init(dataset: ImageDataset, batchSize: Int, train: Bool, seed: UInt64, labels: [Int32]? = nil) {
        self.dataset = dataset; self.batchSize = batchSize; self.train = train; self.seed = seed
        self.labels = labels ?? dataset.labels
        let c = dataset.imageShape[2], (mean, std) = Self.normalization(dataset.name, channels: c)
        normalized = (0..<(256 * c)).map { i in (T(Double(i / c)) - mean[i % c]) / std[i % c] }
        padding = (0..<c).map { (0 - mean[$0]) / std[$0] }
    }

    /// ceil(count / batchSize): a partial last batch is kept (ImageNet: every batch is
    /// full, taken from the shuffle buffer's endless stream).
    public var batchesPerEpoch: Int { (dataset.count + batchSize - 1) / batchSize }

    /// Whether training draws from the original's ImageNet shuffle buffer.
    var usesShuffleBuffer: Bool { train && dataset.name == .imagenet2012 }

    /// The example order of `epoch` (0-based): a permutation, or for ImageNet the
    /// shuffle buffer's outputs for that epoch's `batchesPerEpoch` full batches.
    public func order(epoch: Int) -> [Int] {
        guard train else { return Array(0..<dataset.count) }
        if usesShuffleBuffer {
            let per = batchesPerEpoch * batchSize
            let rng = RandomGenerator(seed: seed).derived("shuffle-buffer")
            return ShuffleBuffer.positions(outputs: (epoch * per)..<((epoch + 1) * per), bufferSize: ShuffleBuffer.imageNetSize, rng: rng)
                .map { $0 % dataset.count }
        }
        var rng = RandomGenerator(seed: seed).derived("shuffle").derived(UInt64(epoch))
        return rng.permutation(dataset.count)
    }

    /// Batch `index` of `epoch`, given that epoch's `order`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func batch(epoch: Int, index: Int, order: [Int]) -> (images: Tensor<T>, labels: [Int32]) {
        let start = index * batchSize, end = min(order.count, start + batchSize)
        let ids = Array(order[start..<end])
        if dataset.sources != nil { return (croppedImages(ids, epoch: epoch, index: index), ids.map { labels[$0] }) }
        let shape = dataset.imageShape, size = dataset.imageSize
        var out = [T](repeating: 0, count: ids.count * size)
        var rng = RandomGenerator(seed: seed).derived("augment").derived(UInt64(epoch) << 32 | UInt64(index))
        let (h, w, c) = (shape[0], shape[1], shape[2])
        let augment = train && dataset.name == .cifar10, flipOnly = train && dataset.name == .imagenet2012
        dataset.pixels.withUnsafeBufferPointer { px in
            normalized.withUnsafeBufferPointer { table in
                out.withUnsafeMutableBufferPointer { out in
                    for (b, id) in ids.enumerated() {
                        let src = px.baseAddress! + id * size, dst = out.baseAddress! + b * size
                        var dy = 0, dx = 0, flip = false
                        if augment { dy = rng.uniform(below: 9) - 4; dx = rng.uniform(below: 9) - 4 }
                        if augment || flipOnly { flip = rng.uniform(below: 2) == 1 }
                        if dy == 0 && dx == 0 && !flip {
                            // One flat loop, the channel counted alongside: a loop over channels
                            // inside each pixel cost more than the lookup itself at MNIST's one.
                            var ch = 0
                            for i in 0..<size {
                                dst[i] = table[Int(src[i]) &* c &+ ch]
                                ch &+= 1
                                if ch == c { ch = 0 }
                            }
                            continue
                        }
                        for y in 0..<h {
                            for x in 0..<w {
                                // Output (y, x) reads the padded image at (y + 4 + dy, x' + 4 + dx), i.e. input (y + dy, x' + dx).
                                let xs = flip ? w - 1 - x : x
                                let iy = y + dy, ix = xs + dx
                                let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                                for ch in 0..<c {
                                    dst[(y * w + x) * c + ch] = inside ? table[Int(src[(iy * w + ix) * c + ch]) * c + ch] : padding[ch]
                                }
                            }
                        }
                    }
                }
            }
        }
        return (Tensor(shape: [ids.count] + shape, scalars: out), ids.map { labels[$0] })
    }

    /// ImageNet's whole images cropped as the original does (random crop and flip when
    /// training, the centre crop when evaluating), resized to `imageShape`, normalised.
    func croppedImages(_ ids: [Int], epoch: Int, index: Int) -> Tensor<T> {
        let shape = dataset.imageShape, size = dataset.imageSize, (oh, ow, c) = (shape[0], shape[1], shape[2])
        var rng = RandomGenerator(seed: seed).derived("crop").derived(UInt64(epoch) << 32 | UInt64(index))
        let (mean, std) = Self.normalization(dataset.name, channels: c)
        var out = [T](repeating: 0, count: ids.count * size)
        dataset.pixels.withUnsafeBufferPointer { px in
            for (b, id) in ids.enumerated() {
                let s = dataset.sources![id]
                let window = train ? ImageNetCrop.randomWindow(height: s.height, width: s.width, &rng)
                                   : ImageNetCrop.centerWindow(height: s.height, width: s.width)
                let flip = train && rng.uniform(below: 2) == 1
                let image = UnsafeBufferPointer(rebasing: px[s.offset..<(s.offset + s.height * s.width * c)])
                let resized = BicubicResize.resize(image, height: s.height, width: s.width, channels: c, window: window,
                                                   outHeight: oh, outWidth: ow)
                for y in 0..<oh {
                    for x in 0..<ow {
                        let src = (y * ow + (flip ? ow - 1 - x : x)) * c
                        for ch in 0..<c { out[b * size + (y * ow + x) * c + ch] = (T(Double(resized[src + ch])) - mean[ch]) / std[ch] }
                    }
                }
            }
        }
        return Tensor(shape: [ids.count] + shape, scalars: out)
    }

    /// Per-channel (mean, std) in pixel units, rounded to T as the original's float32 constants.
    static func normalization(_ name: DatasetName, channels: Int) -> (mean: [T], std: [T]) {
        switch name {
        case .cifar10:
            return ([0.4914, 0.4822, 0.4465].map { T($0 * 255) }, [0.2023, 0.1994, 0.2010].map { T($0 * 255) })
        case .imagenet2012:
            return ([0.485, 0.456, 0.406].map { T($0 * 255) }, [0.229, 0.224, 0.225].map { T($0 * 255) })
        case .mnist:
            return ([T](repeating: 0, count: channels), [T](repeating: 255, count: channels))
        }
    }
}
