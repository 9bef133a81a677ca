import Foundation

/// summary.md: the sweep's finished runs as a Markdown table, seeds pooled.
///
/// With an `optimizer` axis holding sgd and sam, one line per setting of the other
/// axes: each optimizer's final test accuracy (mean +- sample standard deviation over
/// seeds, in %), SAM - SGD paired by seed (percentage points), and each one's final
/// training loss. Otherwise one line per setting with its accuracy and loss.
public struct SweepSummary {
    /// The sweep's rows.
    public let rows: [Sweep.Row]
    /// The grid's keys, in order.
    public let axes: [String]

    /// The summary of `rows` of a grid with `axes`.
    public init(rows: [Sweep.Row], axes: [String]) { self.rows = rows; self.axes = axes }

    static func meanSD(_ xs: [Double]) -> (mean: Double, sd: Double) {
        let m = xs.reduce(0, +) / Double(max(xs.count, 1))
        let v = xs.count > 1 ? xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1) : 0
        return (m, v.squareRoot())
    }

    static func pct(_ xs: [Double]) -> String {
        guard !xs.isEmpty else { return "" }
        let (m, s) = meanSD(xs.map { 100 * $0 })
        return xs.count > 1 ? String(format: "%.2f ± %.2f", m, s) : String(format: "%.2f", m)
    }

    /// The table and a note on what it pools.
    public var markdown: String {
        let done = rows.filter { $0.status == "finished" }
        let byOptimizer = axes.contains("optimizer") && Set(done.compactMap { $0.value(of: "optimizer") }).isSuperset(of: ["sgd", "sam"])
        let keys = axes.filter { $0 != "seed" && (!byOptimizer || $0 != "optimizer") }
        let settings = SweepFigures.ordered(done.map { r in keys.map { r.value(of: $0) ?? "" } })
        let seeds = Set(done.compactMap { $0.value(of: "seed") }).count
        var lines: [String] = []
        if byOptimizer {
            lines.append("| " + (keys + ["parameters", "SGD test acc (%)", "SAM test acc (%)", "SAM - SGD (pp)", "SGD train loss", "SAM train loss"])
                .joined(separator: " | ") + " |")
        } else {
            lines.append("| " + (keys + ["parameters", "test acc (%)", "best test acc (%)", "train loss"]).joined(separator: " | ") + " |")
        }
        lines.append("|" + String(repeating: "---|", count: lines[0].filter { $0 == "|" }.count - 1))
        for s in settings {
            let cell = done.filter { r in keys.map { r.value(of: $0) ?? "" } == s }
            let params = cell.first.map { String($0.parameters) } ?? ""
            if byOptimizer {
                let sgd = cell.filter { $0.value(of: "optimizer") == "sgd" }, sam = cell.filter { $0.value(of: "optimizer") == "sam" }
                var gains: [Double] = []
                for a in sam {
                    if let b = sgd.first(where: { $0.value(of: "seed") == a.value(of: "seed") }) { gains.append(a.finalTestAccuracy - b.finalTestAccuracy) }
                }
                let gain = gains.isEmpty ? "" : {
                    let (m, sd) = Self.meanSD(gains.map { 100 * $0 })
                    return gains.count > 1 ? String(format: "%+.2f ± %.2f", m, sd) : String(format: "%+.2f", m)
                }()
                let loss = { (rs: [Sweep.Row]) in rs.isEmpty ? "" : String(format: "%.4f", Self.meanSD(rs.map(\.finalTrainLoss)).mean) }
                lines.append("| " + (s + [params, Self.pct(sgd.map(\.finalTestAccuracy)), Self.pct(sam.map(\.finalTestAccuracy)), gain,
                                          loss(sgd), loss(sam)]).joined(separator: " | ") + " |")
            } else {
                lines.append("| " + (s + [params, Self.pct(cell.map(\.finalTestAccuracy)), Self.pct(cell.map(\.bestTestAccuracy)),
                                          String(format: "%.4f", Self.meanSD(cell.map(\.finalTrainLoss)).mean)]).joined(separator: " | ") + " |")
            }
        }
        let note = "Final test accuracy after the last epoch; mean ± sample standard deviation over "
            + "\(seeds == 0 ? 1 : seeds) seed\(seeds == 1 ? "" : "s")\(byOptimizer ? "; SAM - SGD paired by seed" : ""). "
            + "\(done.count) of \(rows.count) runs finished."
        return lines.joined(separator: "\n") + "\n\n" + note + "\n"
    }
}
