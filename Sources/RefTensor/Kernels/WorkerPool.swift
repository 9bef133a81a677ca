import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Persistent worker threads that wait for the next parallel region by spinning
/// briefly, then sleeping.
///
/// Why not `DispatchQueue.concurrentPerform`: waking a Dispatch worker costs about
/// 20 us on these machines, and a training step of a small MLP has dozens of
/// parallel regions (two per GEMM, one per elementwise pass) lasting 20 to 500 us
/// each. A worker spinning on an atomic sees a new region within a microsecond.
///
/// Protocol: the caller (worker 0) publishes a job, then bumps `generation`; every
/// pool thread takes tasks from a shared counter until none is left (or takes
/// none, when the job wants fewer workers) and decrements `pending`; the caller
/// takes tasks too, then spins until `pending` is 0.
///
/// Only one region runs at a time: a call made while another is in flight (from
/// a task, or another thread) gets `false` and runs its tasks serially, which
/// gives the same results by the `Threads` contract.
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    @usableFromInline static let shared = WorkerPool()

    /// How long a pool thread spins for the next region before it sleeps.
    static let spinNanoseconds: UInt64 = 1_000_000

    private let generation = Atomic<Int>(0)
    /// The next task of the region in flight nobody has taken yet.
    private let nextTask = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wake = NSCondition()
    /// Pool threads started so far (they are workers 1...threadCount). Grows only
    /// while `busy` is held.
    private var threadCount = 0
    /// More pool threads (plus the caller) than cores: spinning threads must yield.
    private nonisolated(unsafe) var oversubscribed = false

    // The job in flight: written by the caller before `generation` is bumped
    // (release) and read by pool threads after they see the bump (acquire).
    private nonisolated(unsafe) var body: ((Int, Int) -> Void)?
    private nonisolated(unsafe) var tasks = 0
    private nonisolated(unsafe) var workers = 0

    /// Runs `body(task, worker)` for every task on `workers` workers (the caller is
    /// worker 0). Returns false, having run nothing, if a region is already in flight.
    @usableFromInline
    func run(tasks: Int, workers: Int, _ body: (Int, Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        while threadCount < workers - 1 {
            startThread(index: threadCount + 1, seen: generation.load(ordering: .relaxed))
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.tasks = tasks
            self.workers = workers
            pending.store(threadCount, ordering: .relaxed)
            nextTask.store(0, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock(); wake.broadcast(); wake.unlock()
            }
            takeTasks(worker: 0, body)
            var polls = 0
            while pending.load(ordering: .acquiring) > 0 {
                polls += 1
                if oversubscribed && polls > 1000 { sched_yield() }
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Starts worker `index`; it waits for the region after generation `seen`.
    private func startThread(index: Int, seen: Int) {
        threadCount = index
        oversubscribed = index + 1 > ProcessInfo.processInfo.activeProcessorCount
        let thread = Thread { [unowned self] in self.workerLoop(index: index, seen: seen) }
        thread.name = "RefTensor worker \(index)"
        thread.start()
    }

    private func workerLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            seen = waitForRegion(after: seen)
            runShare(index: index)
            // Every reference to the job's closure is gone by now (runShare returned),
            // as `withoutActuallyEscaping` in `run` requires.
            pending.wrappingSubtract(1, ordering: .releasing)
        }
    }

    @inline(never)
    private func runShare(index: Int) {
        guard index < workers, let body = self.body else { return }
        takeTasks(worker: index, body)
    }

    /// Runs tasks, taking the next untaken one each time, until none is left:
    /// whoever is free takes the next task, so a worker the machine slows down
    /// (another process, a hypervisor) delays the region by at most one task.
    @inline(__always)
    private func takeTasks(worker: Int, _ body: (Int, Int) -> Void) {
        while true {
            let t = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if t >= tasks { return }
            body(t, worker)
        }
    }

    /// Spins, yielding, for up to `spinNanoseconds`, then sleeps until `generation`
    /// moves past `seen`; returns the new generation.
    private func waitForRegion(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            polls += 1
            if polls & 255 == 0 {
                if DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
                // With more threads than cores, let the others run; otherwise keep the core.
                if oversubscribed { sched_yield() }
            }
        }
        wake.lock()
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        var g = generation.load(ordering: .sequentiallyConsistent)
        while g == seen {
            wake.wait()
            g = generation.load(ordering: .sequentiallyConsistent)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        wake.unlock()
        return g
    }
}
