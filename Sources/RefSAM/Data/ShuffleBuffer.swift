import RefTensor

/// tf.data's `dataset.repeat().shuffle(bufferSize)`, as the original shuffles ImageNet
/// (a 2,000-example buffer over the endlessly repeated training set, then batches
/// with `drop_remainder=True`, so every batch is full and epochs run into each other):
///
///     the buffer starts with stream elements 0 ..< bufferSize
///     each output: a slot drawn uniformly, its element emitted, the slot refilled
///     with the next stream element
///
/// Stream element p is example p mod count. The draws come from `rng`, so the order
/// is a function of the seed alone (not TensorFlow's bits).
public enum ShuffleBuffer {
    /// The original's ImageNet buffer.
    public static let imageNetSize = 2_000

    /// Stream positions of the outputs in `range`: the draws replayed from the start
    /// (so any epoch's order is reproducible, and resumable, from the seed), keeping only
    /// the requested ones (memory grows with the range, not with the epoch).
    public static func positions(outputs range: Range<Int>, bufferSize: Int, rng: RandomGenerator) -> [Int] {
        precondition(bufferSize >= 1 && range.lowerBound >= 0, "a shuffle buffer holds at least one element")
        var rng = rng
        var buffer = Array(0..<bufferSize), next = bufferSize
        var out = [Int]()
        out.reserveCapacity(range.count)
        for t in 0..<range.upperBound {
            let slot = rng.uniform(below: bufferSize)
            if t >= range.lowerBound { out.append(buffer[slot]) }
            buffer[slot] = next
            next += 1
        }
        return out
    }
}
