import Foundation
import RefSAMConfig

/// The settings a sweep varies: one axis per `--grid 'KEY=[V1,V2,...]'`, each value
/// written as `--config.KEY=V` would be. The runs are every combination, the first
/// axis varying slowest (as nested loops in the order given).
public struct SweepGrid: Equatable, Sendable {
    /// One varied config key and the values it takes, as text.
    public struct Axis: Equatable, Sendable {
        /// The config key.
        public var key: String
        /// Its values, each as --config.KEY=V would take it.
        public var values: [String]
        /// An axis of `key` over `values`.
        public init(key: String, values: [String]) { self.key = key; self.values = values }
    }

    /// One combination: (key, value text) for every axis, in axis order.
    public typealias Point = [(key: String, value: String)]

    /// The axes, the first varying slowest.
    public var axes: [Axis]

    /// A grid of `axes`.
    public init(axes: [Axis]) { self.axes = axes }

    /// Parses `KEY=[V1,V2,...]` (commas inside brackets, parentheses or quotes belong to
    /// the value: `num_neurons=[[75,25],[150,50]]` has two values).
    public static func axis(parsing text: String) throws -> Axis {
        guard let eq = text.firstIndex(of: "=") else {
            throw ConfigError(file: "--grid \(text)", line: nil, key: nil, message: "expected KEY=[V1,V2,...]")
        }
        let key = String(text[..<eq]).trimmingCharacters(in: .whitespaces)
        let list = String(text[text.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, list.hasPrefix("["), list.hasSuffix("]"), list.count >= 2 else {
            throw ConfigError(file: "--grid \(text)", line: nil, key: key.isEmpty ? nil : key,
                              message: "expected KEY=[V1,V2,...] (a bracketed list of values)")
        }
        let values = try splitTopLevel(String(list.dropFirst().dropLast()), source: text)
        guard !values.isEmpty else {
            throw ConfigError(file: "--grid \(text)", line: nil, key: key, message: "the list of values is empty")
        }
        guard Set(values).count == values.count else {
            throw ConfigError(file: "--grid \(text)", line: nil, key: key, message: "a value is listed twice")
        }
        return Axis(key: key, values: values)
    }

    /// Splits at commas outside brackets, parentheses and quotes; trims each part.
    static func splitTopLevel(_ s: String, source: String) throws -> [String] {
        var parts: [String] = [], current = "", depth = 0
        var quote: Character? = nil
        for c in s {
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "[" || c == "(" {
                depth += 1
            } else if c == "]" || c == ")" {
                depth -= 1
                if depth < 0 { break }
            } else if c == "," && depth == 0 {
                parts.append(current.trimmingCharacters(in: .whitespaces)); current = ""; continue
            }
            current.append(c)
        }
        guard depth == 0, quote == nil else {
            throw ConfigError(file: "--grid \(source)", line: nil, key: nil, message: "unbalanced brackets or quotes")
        }
        let last = current.trimmingCharacters(in: .whitespaces)
        if !last.isEmpty || !parts.isEmpty { parts.append(last) }
        if parts.contains(where: \.isEmpty) {
            throw ConfigError(file: "--grid \(source)", line: nil, key: nil, message: "an empty value between commas")
        }
        return parts
    }

    /// Every combination, the first axis varying slowest.
    public var points: [Point] {
        axes.reduce([[]]) { partial, axis in
            partial.flatMap { p in axis.values.map { p + [(key: axis.key, value: $0)] } }
        }
    }

    /// A directory name for a point: `key=value,key=value`, each value reduced to
    /// letters, digits, `.`, `-` and `_` (`[75, 25]` becomes `75-25`).
    public static func name(of point: Point) -> String {
        point.map { "\($0.key)=\(pathComponent($0.value))" }.joined(separator: ",")
    }

    static func pathComponent(_ value: String) -> String {
        var out = ""
        for c in value {
            if c.isLetter || c.isNumber || c == "." || c == "-" || c == "_" { out.append(c) }
            else if c == "," { out.append("-") }
        }
        return out.isEmpty ? "_" : out
    }
}
