import Foundation

/// The figures of a sweep, from its rows (finished runs only for the accuracies):
///
/// - accuracy.svg: final test accuracy against the varied width (as parameter count,
///   log scale) or the first other numeric axis, one line per setting of the other
///   axes (seeds averaged; bars span the seeds' minimum to maximum);
/// - gain.svg: SAM's accuracy minus SGD's at each x, paired by seed (when the
///   optimizer is an axis with both);
/// - train_loss.svg: the epochs' mean training loss (log scale), seeds averaged.
public struct SweepFigures {
    /// The sweep's rows.
    public let rows: [Sweep.Row]
    /// The grid's keys, in order.
    public let axes: [String]
    /// Dataset, model and epochs, for the titles.
    public let title: String

    /// Figures of `rows` of a grid with `axes`.
    public init(rows: [Sweep.Row], axes: [String], title: String) { self.rows = rows; self.axes = axes; self.title = title }

    static let widthKeys = ["num_neurons", "num_filters"]

    /// The axis along x: a width (plotted as parameter count) or the first other numeric axis.
    var xKey: String? {
        if let w = axes.first(where: { Self.widthKeys.contains($0) }) { return w }
        return axes.first { k in k != "optimizer" && k != "seed" && rows.allSatisfy { Double($0.value(of: k) ?? "") != nil } }
    }

    var xIsWidth: Bool { xKey.map { Self.widthKeys.contains($0) } ?? false }

    func x(_ r: Sweep.Row) -> Double { xIsWidth ? Double(r.parameters) : Double(r.value(of: xKey!) ?? "") ?? .nan }

    var xLabel: String { xIsWidth ? "parameters (\(xKey!) varied)" : xKey ?? "" }

    /// The axes that make separate lines.
    var groupKeys: [String] { axes.filter { $0 != xKey && $0 != "seed" } }

    static func ordered<K: Hashable>(_ keys: [K]) -> [K] {
        var seen = Set<K>(); return keys.filter { seen.insert($0).inserted }
    }

    func groupName(_ values: [String], keys: [String]) -> String {
        if keys.isEmpty { return "all runs" }
        return zip(keys, values).map { k, v in
            k == "optimizer" ? v.uppercased() : Self.widthKeys.contains(k) ? v.replacingOccurrences(of: " ", with: "") : "\(k)=\(v)"
        }.joined(separator: ", ")
    }

    var seedNote: String {
        let seeds = Self.ordered(rows.compactMap { $0.value(of: "seed") })
        return seeds.isEmpty ? "one seed" : "mean of \(seeds.count) seed\(seeds.count == 1 ? "" : "s")\(seeds.count > 1 ? " (bars: min to max)" : "")"
    }

    /// (file name, SVG) for each figure the sweep's axes allow.
    public var all: [(String, String)] {
        var out: [(String, String)] = []
        if let a = accuracy { out.append(("accuracy.svg", a)) }
        if let g = gain { out.append(("gain.svg", g)) }
        if let l = trainLoss { out.append(("train_loss.svg", l)) }
        return out
    }

    /// accuracy.svg, or nil without a numeric axis or a finished run.
    public var accuracy: String? {
        guard xKey != nil else { return nil }
        let done = rows.filter { $0.status == "finished" }
        guard !done.isEmpty else { return nil }
        var chart = SVGChart(title: "Test accuracy: " + title, xLabel: xLabel, yLabel: "final test accuracy (%)", xLog: xIsWidth)
        chart.subtitle = seedNote
        let groups = Self.ordered(done.map { r in groupKeys.map { r.value(of: $0) ?? "" } })
        for (gi, g) in groups.enumerated() {
            let members = done.filter { r in groupKeys.map { r.value(of: $0) ?? "" } == g }
            let xs = Self.ordered(members.map(x))
            let points = xs.map { xv -> SVGChart.Point in
                let ys = members.filter { x($0) == xv }.map { 100 * $0.finalTestAccuracy }
                return SVGChart.Point(x: xv, y: ys.reduce(0, +) / Double(ys.count), low: ys.min(), high: ys.max())
            }
            chart.series.append(.init(name: groupName(g, keys: groupKeys), points: points.sorted { $0.x < $1.x },
                                      color: SVGChart.palette[gi % SVGChart.palette.count]))
        }
        return chart.render()
    }

    /// gain.svg, or nil unless optimizer is an axis with finished sgd and sam runs.
    public var gain: String? {
        guard xKey != nil, groupKeys.contains("optimizer") else { return nil }
        let done = rows.filter { $0.status == "finished" }
        let others = groupKeys.filter { $0 != "optimizer" }
        var chart = SVGChart(title: "SAM minus SGD: " + title, xLabel: xLabel, yLabel: "test accuracy gain (percentage points)", xLog: xIsWidth)
        chart.subtitle = "final test accuracy, SAM - SGD paired by seed; " + seedNote
        chart.referenceY = 0
        let groups = Self.ordered(done.map { r in others.map { r.value(of: $0) ?? "" } })
        for (gi, g) in groups.enumerated() {
            let members = done.filter { r in others.map { r.value(of: $0) ?? "" } == g }
            var points: [SVGChart.Point] = []
            for xv in Self.ordered(members.map(x)).sorted() {
                let cell = members.filter { x($0) == xv }
                var diffs: [Double] = []
                for sam in cell where sam.value(of: "optimizer") == "sam" {
                    if let sgd = cell.first(where: { $0.value(of: "optimizer") == "sgd" && $0.value(of: "seed") == sam.value(of: "seed") }) {
                        diffs.append(100 * (sam.finalTestAccuracy - sgd.finalTestAccuracy))
                    }
                }
                if !diffs.isEmpty { points.append(.init(x: xv, y: diffs.reduce(0, +) / Double(diffs.count), low: diffs.min(), high: diffs.max())) }
            }
            if !points.isEmpty {
                chart.series.append(.init(name: others.isEmpty ? "SAM - SGD" : groupName(g, keys: others), points: points,
                                          color: SVGChart.palette[gi % SVGChart.palette.count]))
            }
        }
        return chart.series.isEmpty ? nil : chart.render()
    }

    /// train_loss.svg, or nil before any epoch ended.
    public var trainLoss: String? {
        let started = rows.filter { !$0.history.isEmpty }
        guard !started.isEmpty else { return nil }
        var chart = SVGChart(title: "Training loss: " + title, xLabel: "epoch", yLabel: "mean training loss of the epoch", yLog: true)
        let seeds = Self.ordered(started.compactMap { $0.value(of: "seed") }).count
        chart.subtitle = seeds > 1 ? "mean of \(seeds) seeds" : nil
        let lineKeys = (xKey.map { [$0] } ?? []) + groupKeys.filter { $0 != "optimizer" }
        let lines = Self.ordered(started.map { r in lineKeys.map { r.value(of: $0) ?? "" } })
        let optimizers = groupKeys.contains("optimizer") ? Self.ordered(started.compactMap { $0.value(of: "optimizer") }) : [""]
        for (li, line) in lines.enumerated() {
            for (oi, opt) in optimizers.enumerated() {
                let members = started.filter { r in lineKeys.map { r.value(of: $0) ?? "" } == line && (opt.isEmpty || r.value(of: "optimizer") == opt) }
                guard !members.isEmpty else { continue }
                let epochs = members.map(\.history.count).min() ?? 0
                let points = (0..<epochs).map { e in
                    SVGChart.Point(x: Double(e + 1), y: members.map { $0.history[e].trainLoss }.reduce(0, +) / Double(members.count))
                }
                var name = groupName(line, keys: lineKeys)
                if !opt.isEmpty { name += (name.isEmpty ? "" : " ") + opt.uppercased() }
                chart.series.append(.init(name: name, points: points, color: SVGChart.palette[li % SVGChart.palette.count],
                                          dashed: oi == 0 && optimizers.count > 1, markers: false))
            }
        }
        return chart.render()
    }
}
