/// A data problem: a file that is wrong (naming it and what is wrong), files that
/// cannot be found (naming every place looked at), or a request the data cannot meet.
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// `file` exists but cannot be read or does not hold what it should.
    case malformed(file: String, reason: String)
    /// None of the files for `what` is in any of the `looked` places; `hint` says where to get them.
    case notFound(what: String, looked: [String], hint: String)
    /// The data cannot serve the request (a batch past the end, a wrong image shape, ...).
    case unusable(String)

    /// One message naming the file or the places looked at.
    public var description: String {
        switch self {
        case let .malformed(file, reason): return "\(file): \(reason)"
        case let .notFound(what, looked, hint):
            return "\(what) not found. Looked at:\n  " + looked.joined(separator: "\n  ") + "\n" + hint
        case let .unusable(why): return why
        }
    }
}
