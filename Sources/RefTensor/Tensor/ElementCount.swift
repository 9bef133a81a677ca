/// Sizes read from files are untrusted: their products are computed here without
/// overflow, so a hostile header is an error, never a crash or a huge allocation.
public enum ElementCount {
    /// The product of `dims` times `factor`, or nil when a dimension is negative or
    /// the product does not fit in an `Int`.
    public static func of(_ dims: [Int], times factor: Int = 1) -> Int? {
        guard factor >= 0 else { return nil }
        var n = factor
        for d in dims {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }
}
