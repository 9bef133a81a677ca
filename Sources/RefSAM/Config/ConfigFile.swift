import Foundation

/// Reads an ml_collections config file without running Python: the subset the
/// original's configs use. Accepted statements: comments, blank lines, docstrings,
/// `import` / `from ... import`, `def get_config():`,
/// `config = ml_collections.ConfigDict()`, `config.KEY = <literal>` (a literal may
/// span lines inside brackets) and `return config`. Anything else is an error
/// naming the file, the line and the text.
public enum ConfigFile {
    /// One `config.KEY = literal` statement of a file.
    public struct Assignment: Equatable, Sendable {
        /// The key after `config.`.
        public var key: String
        /// The literal on the right.
        public var value: PythonLiteral
        /// The line the statement starts on (1-based).
        public var line: Int
    }

    /// The assignments of the config file at `path`, in order.
    public static func read(_ path: String) throws -> [Assignment] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: nil, key: nil, message: "cannot read the config file")
        }
        return try parse(text, file: path)
    }

    /// The assignments of config-file `text`; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws -> [Assignment] {
        let lines = text.components(separatedBy: "\n")
        var out: [Assignment] = []
        var n = 0
        func fail(_ line: Int, _ why: String) -> ConfigError { ConfigError(file: file, line: line, key: nil, message: why) }
        while n < lines.count {
            let lineNo = n + 1
            let raw = lines[n]
            let s = raw.trimmingCharacters(in: .whitespaces)
            n += 1
            if s.isEmpty || s.hasPrefix("#") { continue }
            if s.hasPrefix("\"\"\"") || s.hasPrefix("'''") {          // docstring, maybe multi-line
                let q = String(s.prefix(3))
                if s.count >= 6 && s.dropFirst(3).contains(q) { continue }
                while n < lines.count && !lines[n].contains(q) { n += 1 }
                guard n < lines.count else { throw fail(lineNo, "unterminated docstring") }
                n += 1
                continue
            }
            if s.hasPrefix("import ") || s.hasPrefix("from ") { continue }
            if s.range(of: #"^def\s+get_config\s*\(\s*\)\s*(->\s*[\w.]+\s*)?:\s*(#.*)?$"#, options: .regularExpression) != nil { continue }
            if s.range(of: #"^config\s*=\s*(ml_collections\.)?ConfigDict\(\s*\)\s*(#.*)?$"#, options: .regularExpression) != nil { continue }
            if s.range(of: #"^return\s+config\s*(#.*)?$"#, options: .regularExpression) != nil { continue }
            guard let m = s.range(of: #"^config\.([A-Za-z_][A-Za-z0-9_]*)\s*="#, options: .regularExpression) else {
                throw fail(lineNo, "cannot understand '\(s)' (expected config.KEY = <literal>)")
            }
            let key = String(s[s.index(s.startIndex, offsetBy: 7)..<s.index(before: m.upperBound)]).trimmingCharacters(in: .whitespaces)
            // The value, plus continuation lines while brackets are open.
            var valueText = String(s[m.upperBound...])
            var brackets = BracketCounter()
            brackets.scan(valueText)
            var continuation: [String] = []
            while brackets.depth > 0 && n < lines.count { brackets.scan("\n" + lines[n]); continuation.append(lines[n]); n += 1 }
            if !continuation.isEmpty { valueText += "\n" + continuation.joined(separator: "\n") }
            var parser = LiteralParser(valueText)
            do {
                let v = try parser.parse()
                guard parser.atEnd else { throw LiteralError("unexpected text after the value") }
                out.append(Assignment(key: key, value: v, line: lineNo))
            } catch let e as LiteralError {
                throw ConfigError(file: file, line: lineNo, key: key, message: "\(e.message): '\(valueText.trimmingCharacters(in: .whitespaces))'")
            }
        }
        return out
    }

    /// Open brackets minus closed ones, outside strings and comments, counted as text
    /// arrives (so a value over many lines is scanned once, not once per line).
    struct BracketCounter {
        var depth = 0
        var quote: Character? = nil
        var comment = false

        mutating func scan(_ s: String) {
            for c in s {
                if comment { if c == "\n" { comment = false }; continue }
                if let q = quote { if c == q { quote = nil }; continue }
                if c == "#" { comment = true; continue }
                if c == "'" || c == "\"" { quote = c } else if c == "[" || c == "(" { depth += 1 } else if c == "]" || c == ")" { depth -= 1 }
            }
        }
    }
}
