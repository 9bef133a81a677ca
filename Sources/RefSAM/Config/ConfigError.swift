/// A config problem, naming the file, line and key involved.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String?
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String?, line: Int?, key: String?, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }

    public var description: String {
        var where_ = file.map { $0 + (line.map { ":\($0)" } ?? "") + ": " } ?? ""
        if let key { where_ += "config.\(key): " }
        return where_ + message
    }
}
