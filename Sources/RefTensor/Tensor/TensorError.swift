/// Every way an op can refuse its inputs. Messages name the op and the shapes
/// involved, so a mismatch is found at the call site, never deep in a kernel.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two operands whose shapes must agree do not.
    case shapeMismatch(op: String, expected: [Int], got: [Int], detail: String)
    /// An operand has the wrong rank or an impossible size.
    case invalidShape(op: String, shape: [Int], detail: String)
    /// An argument (stride, window, axis, label...) is out of range.
    case invalidArgument(op: String, detail: String)
    /// Autodiff misuse: non-scalar loss, a variable from another tape, ...
    case autodiff(String)
    /// A file (`.npy`) that cannot be read or written: its path and why.
    case file(path: String, reason: String)

    /// The op, the problem and the shapes involved, in one line.
    public var description: String {
        switch self {
        case let .shapeMismatch(op, expected, got, detail):
            return "\(op): shape mismatch: expected \(expected), got \(got)" + (detail.isEmpty ? "" : " (\(detail))")
        case let .invalidShape(op, shape, detail):
            return "\(op): invalid shape \(shape): \(detail)"
        case let .invalidArgument(op, detail):
            return "\(op): \(detail)"
        case let .autodiff(detail):
            return "autodiff: \(detail)"
        case let .file(path, reason):
            return "\(path): \(reason)"
        }
    }
}
