import Foundation

/// A line chart as SVG text, drawn by hand (no dependency): axes with ticks (linear or
/// log10), lines with markers, optional error bars, a legend to the right, a title.
public struct SVGChart {
    /// One point; `low`/`high` draw an error bar when given.
    public struct Point: Sendable {
        /// Coordinates, and the error bar's ends.
        public var x: Double, y: Double, low: Double?, high: Double?
        /// A point, with an error bar when `low` and `high` are given.
        public init(x: Double, y: Double, low: Double? = nil, high: Double? = nil) { self.x = x; self.y = y; self.low = low; self.high = high }
    }

    /// One line of the chart.
    public struct Series: Sendable {
        /// Its legend entry.
        public var name: String
        /// Its points, in drawing order.
        public var points: [Point]
        /// An SVG colour.
        public var color: String
        /// Dashed instead of solid.
        public var dashed: Bool
        /// A dot at each point.
        public var markers: Bool
        /// Dotted instead of solid or dashed.
        public var dotted = false
        /// A series.
        public init(name: String, points: [Point], color: String, dashed: Bool = false, markers: Bool = true) {
            self.name = name; self.points = points; self.color = color; self.dashed = dashed; self.markers = markers
        }
    }

    /// Colours of successive series (matplotlib's tab10).
    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]

    /// Above the chart.
    public var title: String
    /// Under the x axis.
    public var xLabel: String
    /// Beside the y axis.
    public var yLabel: String
    /// log10 x axis.
    public var xLog = false
    /// log10 y axis.
    public var yLog = false
    /// The lines.
    public var series: [Series] = []
    /// A horizontal reference line (e.g. zero gain), drawn dashed grey.
    public var referenceY: Double? = nil
    /// A note under the title (e.g. what the bars show).
    public var subtitle: String? = nil
    /// Size in pixels.
    public var width = 760.0
    /// Size in pixels.
    public var height = 440.0

    /// An empty chart.
    public init(title: String, xLabel: String, yLabel: String, xLog: Bool = false, yLog: Bool = false) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.xLog = xLog; self.yLog = yLog
    }

    // Plot area.
    var left: Double { 78 }
    var right: Double { width - 240 }
    var top: Double { subtitle == nil ? 48 : 62 }
    var bottom: Double { height - 58 }

    /// The SVG document.
    public func render() -> String {
        var values = (x: [Double](), y: [Double]())
        for s in series {
            for p in s.points where p.x.isFinite && p.y.isFinite && (!xLog || p.x > 0) && (!yLog || p.y > 0) {
                values.x.append(p.x); values.y.append(p.y)
                for b in [p.low, p.high].compactMap({ $0 }) where b.isFinite && (!yLog || b > 0) { values.y.append(b) }
            }
        }
        if let r = referenceY, !yLog || r > 0 { values.y.append(r) }
        let xAxis = Axis.fitting(values.x, log: xLog), yAxis = Axis.fitting(values.y, log: yLog)
        func px(_ x: Double) -> Double { left + (right - left) * xAxis.fraction(x) }
        func py(_ y: Double) -> Double { bottom - (bottom - top) * yAxis.fraction(y) }

        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" \
        font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

        """
        if let subtitle {
            out += "<text x=\"\(f(width / 2))\" y=\"42\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444\">\(escape(subtitle))</text>\n"
        }
        // Grid and ticks.
        for t in xAxis.ticks {
            let x = px(t.value)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(bottom))\" stroke=\"#e4e4e4\"/>\n"
            out += "<line x1=\"\(f(x))\" y1=\"\(f(bottom))\" x2=\"\(f(x))\" y2=\"\(f(bottom + 5))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(x))\" y=\"\(f(bottom + 19))\" text-anchor=\"middle\">\(t.label)</text>\n"
        }
        for t in yAxis.ticks {
            let y = py(t.value)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(right))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>\n"
            out += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>\n"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(t.label)</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(right - left))\" height=\"\(f(bottom - top))\" fill=\"none\" stroke=\"black\"/>\n"
        out += "<text x=\"\(f((left + right) / 2))\" y=\"\(f(height - 16))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(20,\(f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel))</text>\n"
        if let r = referenceY, !yLog || r > 0, yAxis.contains(r) {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(r)))\" x2=\"\(f(right))\" y2=\"\(f(py(r)))\" stroke=\"#777\" stroke-dasharray=\"2,3\"/>\n"
        }
        // Series.
        for s in series {
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!xLog || $0.x > 0) && (!yLog || $0.y > 0) }
            let dash = s.dotted ? " stroke-dasharray=\"2,3\"" : s.dashed ? " stroke-dasharray=\"6,4\"" : ""
            if pts.count > 1 {
                let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(dash)/>\n"
            }
            for p in pts {
                if let lo = p.low, let hi = p.high, lo.isFinite, hi.isFinite, !yLog || lo > 0 {
                    let x = px(p.x)
                    out += "<path d=\"M\(f(x)),\(f(py(lo)))V\(f(py(hi)))M\(f(x - 4)),\(f(py(lo)))h8M\(f(x - 4)),\(f(py(hi)))h8\" stroke=\"\(s.color)\" fill=\"none\"/>\n"
                }
                if s.markers { out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.2\" fill=\"\(s.color)\"/>\n" }
            }
        }
        // Legend.
        var ly = top + 10
        for s in series {
            let dash = s.dotted ? " stroke-dasharray=\"2,3\"" : s.dashed ? " stroke-dasharray=\"6,4\"" : ""
            out += "<line x1=\"\(f(right + 16))\" y1=\"\(f(ly))\" x2=\"\(f(right + 44))\" y2=\"\(f(ly))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>\n"
            if s.markers { out += "<circle cx=\"\(f(right + 30))\" cy=\"\(f(ly))\" r=\"3.2\" fill=\"\(s.color)\"/>\n" }
            out += "<text x=\"\(f(right + 50))\" y=\"\(f(ly + 4))\">\(escape(s.name))</text>\n"
            ly += 20
        }
        return out + "</svg>\n"
    }

    func f(_ v: Double) -> String { String(format: "%.1f", v) }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// An axis's range and ticks: "nice" 1-2-5 steps, or powers of ten on a log axis.
    struct Axis {
        var low: Double, high: Double, log: Bool
        var ticks: [(value: Double, label: String)] = []

        /// The axis that shows `values` with a 6% margin.
        static func fitting(_ values: [Double], log: Bool) -> Axis {
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if log {
                lo = Foundation.log10(lo > 0 ? lo : 1); hi = Foundation.log10(hi > 0 ? hi : 10)
                if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
                let pad = (hi - lo) * 0.06
                return Axis(logRange: lo - pad, hi + pad)
            }
            if hi - lo < 1e-12 { let d = Swift.max(Swift.abs(lo) * 0.1, 1e-3); lo -= d; hi += d }
            let pad = (hi - lo) * 0.06
            return Axis(range: lo - pad, hi + pad)
        }

        /// A log10 axis over 10^low ... 10^high: powers of ten (with 2 and 5 over less
        /// than about two decades, evenly spaced values over less than one).
        init(logRange low: Double, _ high: Double) {
            self.low = low; self.high = high; self.log = true
            let first = Int(Foundation.floor(low)), last = Int(Foundation.ceil(high))
            for k in first...last {
                for m in high - low < 2.2 ? [1.0, 2, 5] : [1.0] {
                    let v = m * Foundation.pow(10, Double(k))
                    let l = Foundation.log10(v)
                    if l >= low && l <= high { ticks.append((v, Self.label(log: v))) }
                }
            }
            if ticks.count < 3 {
                let linear = Axis(range: Foundation.pow(10, low), Foundation.pow(10, high))
                ticks = linear.ticks.filter { $0.value > 0 && Foundation.log10($0.value) >= low && Foundation.log10($0.value) <= high }
            }
        }

        /// A linear axis over exactly `low...high` with 1-2-2.5-5 steps.
        init(range low: Double, _ high: Double) {
            self.low = low; self.high = high; self.log = false
            do {
                let raw = (high - low) / 6, mag = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
                let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
                var v = Foundation.ceil(low / step) * step
                let digits = Swift.max(0, -Int(Foundation.floor(Foundation.log10(step) + 1e-9)) + (step / mag == 2.5 ? 1 : 0))
                while v <= high + step * 1e-9 {
                    ticks.append((v, String(format: "%.\(digits)f", Swift.abs(v) < step * 1e-9 ? 0 : v)))
                    v += step
                }
            }
        }

        func fraction(_ v: Double) -> Double {
            let t = log ? Foundation.log10(v) : v
            return (t - low) / (high - low)
        }

        func contains(_ v: Double) -> Bool { let t = fraction(v); return t >= 0 && t <= 1 }

        /// 1, 2, 5 x 10^k in a short form: 200, 5k, 1M, 1e-3.
        static func label(log v: Double) -> String {
            let k = Int((Foundation.log10(v) + 1e-9).rounded(.down))
            let m = Int((v / Foundation.pow(10, Double(k))).rounded())
            switch k {
            case 0...2: return String(Int(v.rounded()))
            case 3...5: return "\(m * Int(Foundation.pow(10, Double(k - 3))))k"
            case 6...8: return "\(m * Int(Foundation.pow(10, Double(k - 6))))M"
            default: return m == 1 ? "1e\(k)" : "\(m)e\(k)"
            }
        }
    }
}
