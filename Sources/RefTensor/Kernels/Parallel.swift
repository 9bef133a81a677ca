import Foundation

/// The thread pool every kernel shares.
///
/// Determinism contract: work is always cut into the same tasks, whatever
/// `Threads.count` is; a task writes outputs no other task writes, and every sum
/// inside a task runs in a fixed order. So the number of threads changes only who
/// runs a task, never a single bit of any result.
public enum Threads {
    /// Worker threads kernels may use (default: every active core); `use(threads:)` sets it.
    nonisolated(unsafe) public internal(set) static var count: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Sets the worker threads kernels may use from now on (1: everything on the calling
    /// thread). Results are bit-identical for any count. Call it between computations,
    /// not while a kernel runs.
    public static func use(threads n: Int) throws {
        guard n >= 1 else { throw TensorError.invalidArgument(op: "threads", detail: "the thread count must be >= 1, got \(n)") }
        count = n
    }

    /// Runs `body(task, worker)` for every `task` in `0..<tasks`; `worker` lies in
    /// `0..<workers(for: tasks)` and no two concurrent calls share a worker index,
    /// so a worker may own scratch memory. Which worker runs which task is not
    /// fixed (free workers take the next task), and must not matter.
    @inlinable
    public static func parallelFor(_ tasks: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        parallelFor(tasks, workers: count, body)
    }

    /// `parallelFor` on at most `workers` workers (a kernel that knows its work is
    /// too small to share asks for fewer).
    @inlinable
    public static func parallelFor(_ tasks: Int, workers limit: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        let workers = min(limit, workers(for: tasks))
        if workers > 1 && WorkerPool.shared.run(tasks: tasks, workers: workers, body) { return }
        for t in 0..<tasks { body(t, 0) }
    }

    /// Elements per chunk of elementwise work and of chunked reductions: fixed, so
    /// that where a chunk ends never depends on the thread count (128 KiB of Float).
    public static let chunk = 1 << 15

    /// Runs `body(range)` over consecutive `size`-long ranges covering `0..<n`, in
    /// parallel; a single chunk runs on the calling thread.
    @inlinable
    public static func forEachChunk(_ n: Int, size: Int = chunk, _ body: (_ range: Range<Int>) -> Void) {
        let chunks = (n + size - 1) / size
        if chunks <= 1 { if n > 0 { body(0..<n) }; return }
        parallelFor(chunks) { c, _ in body((c * size)..<min(n, (c + 1) * size)) }
    }

    /// A reduction whose order no thread count changes: chunk by chunk (`size`-long
    /// ranges of `0..<n`, in parallel), `body(range, acc)` adds its range into a
    /// zeroed accumulator of `width` Doubles; the chunks' accumulators are then
    /// added in chunk order, starting from 0.
    @inlinable
    public static func chunkedSums(_ n: Int, size: Int, width: Int,
                                   _ body: (_ range: Range<Int>, _ acc: UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        let chunks = max(1, (n + size - 1) / size)
        var partial = [Double](repeating: 0, count: chunks * width)
        partial.withUnsafeMutableBufferPointer { pp in
            let base = pp.baseAddress!
            forEachChunk(n, size: size) { r in body(r, base + r.lowerBound / size * width) }
        }
        var total = [Double](repeating: 0, count: width)
        for t in 0..<chunks { for j in 0..<width { total[j] += partial[t * width + j] } }
        return total
    }

    /// How many workers `parallelFor(tasks)` uses.
    @inlinable
    public static func workers(for tasks: Int) -> Int { max(1, min(count, tasks)) }
}
