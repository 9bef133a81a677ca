/// A model cannot run with the parameters it was given.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The forward pass asked for a parameter the tree does not hold.
    case missingParameter(path: String)
    /// A parameter's shape is not the one the layer needs for this input.
    case parameterShape(path: String, expected: [Int], got: [Int])
    /// A layer name was used twice while initialising (a bug in a forward function).
    case duplicateParameter(path: String)

    /// One line naming the parameter and the problem.
    public var description: String {
        switch self {
        case let .missingParameter(path): return "params: no tensor at '\(path)'"
        case let .parameterShape(path, expected, got):
            return "parameter \(path): shape mismatch: expected \(expected), got \(got) (for this input)"
        case let .duplicateParameter(path): return "parameter \(path) created twice"
        }
    }
}
