import RefTensor

extension Model {
    /// The number of parameters for images of `imageShape`, computed from the
    /// architecture without allocating anything (so a config can be checked before a
    /// run starts); nil when the count does not fit in an `Int`. Equals
    /// `initialize(...).params.scalarCount` (tested).
    public func parameterCountWithoutAllocating(imageShape: [Int]) -> Int? {
        guard imageShape.count == 3, let pixels = ElementCount.of(imageShape) else { return nil }
        var total = Count()
        switch architecture {
        case let .mlp(widths):
            var inputs = pixels
            for w in widths { total.add(inputs, w); total.add(w); inputs = w }
            total.add(inputs, numClasses); total.add(numClasses)
        case let .resNet18(f):
            let c = imageShape[2]
            total.add(9, c, f); total.add(2, f)
            var channels = f, h = imageShape[0], w = imageShape[1]
            for stage in 0..<4 {
                let width = f << stage
                for block in 0..<2 {
                    let stride = stage > 0 && block == 0 ? 2 : 1
                    total.add(9, channels, width); total.add(2, width)
                    total.add(9, width, width); total.add(2, width)
                    if channels != width || stride != 1 { total.add(channels, width); total.add(2, width) }
                    channels = width
                    if stride == 2 { h = (h + 1) / 2; w = (w + 1) / 2 }
                }
            }
            let pooled = max(0, (h - 4) / 4 + 1) * max(0, (w - 4) / 4 + 1)
            total.add(pooled, channels, numClasses); total.add(numClasses)
        case let .resNet50ImageNet(f):
            let c = imageShape[2]
            total.add(49, c, f); total.add(2, f)
            var channels = f
            for (stage, blocks) in [3, 4, 6, 3].enumerated() {
                let width = f << stage
                for _ in 0..<blocks {
                    total.add(channels, width); total.add(2, width)
                    total.add(9, width, width); total.add(2, width)
                    total.add(width, 4 * width); total.add(2, 4 * width)
                    if channels != 4 * width { total.add(channels, 4 * width); total.add(2, 4 * width) }
                    channels = 4 * width
                }
            }
            total.add(channels, numClasses); total.add(numClasses)
        }
        return total.value
    }
}

/// A sum of products that turns nil on overflow instead of trapping.
private struct Count {
    var value: Int? = 0
    mutating func add(_ factors: Int...) {
        guard let v = value, let p = ElementCount.of(factors) else { value = nil; return }
        let (s, overflow) = v.addingReportingOverflow(p)
        value = overflow ? nil : s
    }
}
