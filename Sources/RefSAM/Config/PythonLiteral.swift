/// A Python literal as ml_collections config files write them.
public enum PythonLiteral: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case none
    case list([PythonLiteral])

    /// Python's `str()` of the value (`0.0001`, `1e-05`, `[300, 100]`, `True`).
    public var description: String {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .float(d): return PythonFormat.float(d)
        case let .bool(b): return b ? "True" : "False"
        case .none: return "None"
        case let .list(items): return "[" + items.map { $0.repr }.joined(separator: ", ") + "]"
        }
    }

    /// Python's `repr()`: strings quoted.
    public var repr: String {
        if case let .string(s) = self { return "'" + s + "'" }
        return description
    }

    /// Python's name of the value's type (`int`, `list`, ...), for error messages.
    public var typeName: String {
        switch self {
        case .string: return "string"
        case .int: return "int"
        case .float: return "float"
        case .bool: return "bool"
        case .none: return "None"
        case .list: return "list"
        }
    }
}

/// Numbers spelled as Python spells them (run directories use these spellings).
public enum PythonFormat {
    /// `str(float)` as Python 3 spells it: the shortest digits that round-trip,
    /// positional for exponents -4 ..< 16 (`0.0001`, `100.0`), scientific otherwise
    /// (`1e-05`, `1e+16`, `2.5e-07`).
    public static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also gives the shortest round-trip digits; take them apart.
        let (digits, exponent) = shortestDigits(abs(d))
        let sign = d < 0 ? "-" : ""
        if exponent >= -4 && exponent < 16 {
            if exponent >= digits.count - 1 {
                return sign + digits + String(repeating: "0", count: exponent - digits.count + 1) + ".0"
            } else if exponent >= 0 {
                let cut = digits.index(digits.startIndex, offsetBy: exponent + 1)
                return sign + digits[..<cut] + "." + digits[cut...]
            } else {
                return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
            }
        }
        let mantissa = digits.count == 1 ? digits : String(digits.first!) + "." + digits.dropFirst()
        let e = abs(exponent)
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (e < 10 ? "0" : "") + String(e)
    }

    /// (significant digits without leading/trailing zeros, decimal exponent of the first digit).
    static func shortestDigits(_ d: Double) -> (String, Int) {
        var text = "\(d)"                       // e.g. "0.0001", "1e-05", "123.45", "1e+16"
        var exp10 = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp10 = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0]), fracPart = parts.count > 1 ? String(parts[1]) : ""
        var all = intPart + fracPart
        var pointPos = intPart.count               // digits before the decimal point
        while all.hasPrefix("0") && all.count > 1 { all.removeFirst(); pointPos -= 1 }
        while all.hasSuffix("0") && all.count > 1 { all.removeLast() }
        return (all, pointPos - 1 + exp10)
    }
}

/// Reads Python literals: 'str' "str", ints, floats (1e-4, .5, -3.), True/False/None,
/// and lists or tuples of them. Anything else is an error naming what was not understood.
struct LiteralParser {
    let text: [Character]
    var i = 0
    /// Lists open around the current position.
    var depth = 0
    /// Deepest list nesting accepted (configs use one level); bounded so a hostile
    /// value cannot exhaust the stack.
    static let maxDepth = 32

    init(_ s: String) { text = Array(s) }

    mutating func skipSpace() {
        while i < text.count {
            if text[i] == " " || text[i] == "\t" || text[i] == "\n" || text[i] == "\r" { i += 1 }
            else if text[i] == "#" { while i < text.count && text[i] != "\n" { i += 1 } }
            else { break }
        }
    }

    var atEnd: Bool { mutating get { skipSpace(); return i >= text.count } }

    mutating func parse() throws -> PythonLiteral {
        skipSpace()
        guard i < text.count else { throw LiteralError("a value is missing") }
        let c = text[i]
        if c == "'" || c == "\"" { return .string(try string(c)) }
        if c == "[" || c == "(" { return .list(try list(close: c == "[" ? "]" : ")")) }
        if c.isNumber || c == "-" || c == "+" || c == "." { return try number() }
        var word = ""
        while i < text.count, text[i].isLetter || text[i].isNumber || text[i] == "_" || text[i] == "." { word.append(text[i]); i += 1 }
        switch word {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        default: throw LiteralError("'\(word.isEmpty ? String(c) : word)' is not a literal (expected a string, number, True/False/None or a list)")
        }
    }

    mutating func string(_ quote: Character) throws -> String {
        i += 1
        var s = ""
        while i < text.count {
            let c = text[i]
            if c == quote { i += 1; return s }
            if c == "\\" && i + 1 < text.count {
                let n = text[i + 1]
                switch n {
                case "n": s.append("\n")
                case "t": s.append("\t")
                default: s.append(n)
                }
                i += 2
                continue
            }
            if c == "\n" { break }
            s.append(c); i += 1
        }
        throw LiteralError("unterminated string")
    }

    mutating func list(close: Character) throws -> [PythonLiteral] {
        guard depth < Self.maxDepth else { throw LiteralError("lists nested deeper than \(Self.maxDepth)") }
        depth += 1
        defer { depth -= 1 }
        i += 1
        var items: [PythonLiteral] = []
        while true {
            skipSpace()
            guard i < text.count else { throw LiteralError("unclosed list: '\(close)' is missing") }
            if text[i] == close { i += 1; return items }
            items.append(try parse())
            skipSpace()
            guard i < text.count else { throw LiteralError("unclosed list: '\(close)' is missing") }
            if text[i] == "," { i += 1 } else if text[i] != close {
                throw LiteralError("expected ',' or '\(close)' in a list, found '\(text[i])'")
            }
        }
    }

    mutating func number() throws -> PythonLiteral {
        var s = ""
        while i < text.count, text[i].isNumber || "+-.eE_".contains(text[i]) { s.append(text[i]); i += 1 }
        let clean = s.replacingOccurrences(of: "_", with: "")
        if !clean.contains(where: { ".eE".contains($0) }), let v = Int(clean) { return .int(v) }
        if let v = Double(clean), clean.contains(where: \.isNumber) { return .float(v) }
        throw LiteralError("'\(s)' is not a number")
    }
}

struct LiteralError: Error { let message: String; init(_ m: String) { message = m } }
