import RefSAM

/// Command-line arguments in absl/ml_collections style: `--flag=value`, `--flag value`,
/// boolean `--flag`, and `--config.KEY=VALUE` overrides (kept in order).
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]
    /// Every value of each option, in order (`--grid A --grid B`); `options` keeps the last.
    var repeated: [String: [String]] = [:]
    var switches: Set<String> = []
    var configOverrides: [(String, String)] = []

    /// `booleans`: flags that take no value.
    init(_ args: [String], booleans: Set<String>) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            guard a.hasPrefix("--"), a.count > 2 else { positional.append(a); continue }
            var name = String(a.dropFirst(2)), value: String? = nil
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if name.hasPrefix("config.") {
                let key = String(name.dropFirst(7))
                if value == nil {
                    guard i < args.count else { throw UsageError("--config.\(key) needs a value") }
                    value = args[i]; i += 1
                }
                configOverrides.append((key, value!))
                continue
            }
            if booleans.contains(name) {
                if let value, !["true", "True", "1", "false", "False", "0"].contains(value) {
                    throw UsageError("--\(name) takes no value (got '\(value)')")
                }
                if value == nil || ["true", "True", "1"].contains(value!) { switches.insert(name) }
                continue
            }
            if value == nil {
                guard i < args.count else { throw UsageError("--\(name) needs a value") }
                value = args[i]; i += 1
            }
            options[name] = value
            repeated[name, default: []].append(value!)
        }
    }

    /// Options every subcommand takes (`main` applies them).
    static let global: Set<String> = ["conv"]

    /// Refuses options the command does not know.
    func check(known: Set<String>, command: String) throws {
        for k in options.keys where !known.contains(k) && !Self.global.contains(k) {
            throw UsageError("unknown option --\(k) for '\(command)' (see ref-run help \(command))")
        }
    }

    func int(_ name: String) throws -> Int? {
        guard let v = options[name] else { return nil }
        guard let i = Int(v) else { throw UsageError("--\(name) expects an integer, got '\(v)'") }
        return i
    }

    /// `--name` as an integer in `range` (a usage error naming the range otherwise), or nil when absent.
    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let v = try int(name) else { return nil }
        guard range.contains(v) else {
            let valid = range.upperBound == .max ? ">= \(range.lowerBound)" : "in \(range.lowerBound)...\(range.upperBound)"
            throw UsageError("--\(name) must be \(valid), got \(v)")
        }
        return v
    }

    /// `--conv=direct|winograd`: how 3x3 stride-1 convolutions run (`Conv2DKernels.winograd`;
    /// absent: the build's default, Winograd in the native build, direct in the portable one).
    func applyConvAlgorithm() throws {
        guard let v = options["conv"] else { return }
        switch v {
        case "direct": Conv2DKernels.winograd = false
        case "winograd": Conv2DKernels.winograd = true
        default: throw UsageError("--conv must be 'direct' or 'winograd', got '\(v)'")
        }
    }

    func double(_ name: String) throws -> Double? {
        guard let v = options[name] else { return nil }
        guard let d = Double(v) else { throw UsageError("--\(name) expects a number, got '\(v)'") }
        return d
    }
}

/// A command line the commands cannot accept: exit status 2, with a pointer to the help.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A failure the command line words itself (a library error plus the flags that fix
/// it), with the exit status it calls for (2: the input is at fault, 1: the run failed).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    let status: Int32
    init(_ d: String, status: Int32 = 2) { description = d; self.status = status }
}
