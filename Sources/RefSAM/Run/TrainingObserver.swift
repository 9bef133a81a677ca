/// What a training run reports while it runs. The library calls it; a command line,
/// a sweep or a test decides what to show. Every method has an empty default.
public protocol TrainingObserver: AnyObject {
    /// A line of the run's log (the same line is appended to RUNDIR/log.txt).
    func log(_ line: String)
    /// After every step: `step` of `stepsPerEpoch` done in `epoch` (1-based), `seconds` into the epoch.
    func stepEnded(epoch: Int, step: Int, of stepsPerEpoch: Int, seconds: Double)
    /// After every epoch's evaluation, with the metrics written to metrics.jsonl.
    func epochEnded(_ metrics: EpochMetrics)
}

extension TrainingObserver {
    /// Ignores the line.
    public func log(_ line: String) {}
    /// Ignores the step.
    public func stepEnded(epoch: Int, step: Int, of stepsPerEpoch: Int, seconds: Double) {}
    /// Ignores the metrics.
    public func epochEnded(_ metrics: EpochMetrics) {}
}
