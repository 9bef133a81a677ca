/// A fixture directory that cannot be replayed: the path and what is wrong with it.
public enum FixtureError: Error, CustomStringConvertible {
    case malformed(path: String, reason: String)
    /// `malformed fixture: path: reason`.
    public var description: String {
        switch self { case let .malformed(path, reason): return "malformed fixture: \(path): \(reason)" }
    }
}
