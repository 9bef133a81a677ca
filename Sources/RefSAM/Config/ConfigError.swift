/// A config problem, naming the file, line and key involved.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The config file, or `--config.KEY=VALUE` for an override; nil when not known.
    public var file: String?
    /// The line in the file.
    public var line: Int?
    /// The key involved.
    public var key: String?
    /// What is wrong and what would be valid.
    public var message: String

    /// An error at `file`:`line` about `config.key`.
    public init(file: String?, line: Int?, key: String?, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }

    /// `file:line: config.key: message`, leaving out what is not known.
    public var description: String {
        var where_ = file.map { $0 + (line.map { ":\($0)" } ?? "") + ": " } ?? ""
        if let key { where_ += "config.\(key): " }
        return where_ + message
    }
}
