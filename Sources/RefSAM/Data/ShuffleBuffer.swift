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

    /// Stream positions of outputs `0 ..< end`: the run's draws replayed from the start,
    /// so any epoch's order is reproducible (and resumable) from the seed.
    public static func positions(outputs end: Int, bufferSize: Int, rng: RandomGenerator) -> [Int] {
        precondition(bufferSize >= 1, "a shuffle buffer holds at least one element")
        var rng = rng
        var buffer = Array(0..<bufferSize), next = bufferSize
        var out = [Int]()
        out.reserveCapacity(end)
        for _ in 0..<end {
            let slot = rng.uniform(below: bufferSize)
            out.append(buffer[slot])
            buffer[slot] = next
            next += 1
        }
        return out
    }
}
