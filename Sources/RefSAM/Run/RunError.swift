/// A run cannot start or go on. Each case carries what the caller needs to say what
/// to do next (the command line adds its own flags to the message).
public enum RunError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite; `lastCheckpoint` is the newest good one, if any.
    case nonFinite(epoch: Int, step: Int, loss: Double, lastCheckpoint: String?)
    /// A fresh start was asked for in a run directory that holds checkpoints.
    case existingRun(directory: String, checkpoints: [String])
    /// The data's images are not of the shape the model is built for.
    case dataMismatch(dataset: String, expected: [Int], got: [Int])
    /// A split holds no examples.
    case emptyDataset(dataset: String, split: String)
    /// A request that cannot be met (a count out of range, a batch past the end).
    case invalidRequest(String)
    /// The model's parameters and one batch would not fit in this machine's memory.
    case tooLarge(model: String, parameters: Int?, bytesNeeded: Int?, bytesAvailable: Int)

    /// What went wrong, in one message.
    public var description: String {
        switch self {
        case let .nonFinite(epoch, step, loss, last):
            return "the loss is \(loss) at epoch \(epoch), step \(step); training stopped. "
                + (last.map { "The last good checkpoint, \($0), is kept." } ?? "No checkpoint was written yet.")
        case let .existingRun(dir, cps):
            return "\(dir) already holds checkpoints (\(cps.joined(separator: ", "))); start over with overwrite, or resume from the newest"
        case let .dataMismatch(dataset, expected, got):
            return "\(dataset) images here are \(got) (H, W, C), but the model is built for \(expected): "
                + "the data is not \(dataset) as the config names it"
        case let .emptyDataset(dataset, split):
            return "the \(dataset) \(split) split holds no examples"
        case let .invalidRequest(why):
            return why
        case let .tooLarge(model, parameters, needed, available):
            func gb(_ b: Int) -> String { String(format: "%.1f GB", Double(b) / 1e9) }
            let count = parameters.map { "\($0) parameters" } ?? "more parameters than an Int can count"
            return "\(model) has \(count); a step needs at least \(needed.map(gb) ?? "more than any machine has") for them and one batch, "
                + "this machine has \(gb(available)) of memory. Choose smaller widths (num_neurons / num_filters) or batch_size."
        }
    }
}
