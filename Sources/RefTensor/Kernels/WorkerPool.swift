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
/// Protocol: the caller (worker 0) publishes a job and opens it (`open` = its
/// generation), then bumps `generation`. A pool thread that sees the bump *enters*
/// (`active` + 1), and only if the job is still open takes tasks from a shared
/// counter until none is left; then it leaves (`active` - 1). The caller takes tasks
/// too; when none is left it closes the job and waits until `active` is 0, i.e.
/// only for threads still running a task they took. A pool thread the machine has
/// not scheduled (another process holds the core) is never waited for: it finds
/// the job closed when it wakes and takes nothing. This is what keeps several
/// processes on a shared machine from waiting on each other's descheduled threads.
///
/// Waiting threads spin, yielding the core every few polls (so another process's
/// threads run), for up to `spinNanoseconds`, then sleep.
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
    /// The generation of the job pool threads may still join, or -1 once it is closed.
    private let open = Atomic<Int>(-1)
    /// The next task of the region in flight nobody has taken yet.
    private let nextTask = Atomic<Int>(0)
    /// Pool threads inside the job (entered and not yet left).
    private let active = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wake = NSCondition()
    /// Pool threads started so far (they are workers 1...threadCount). Grows only
    /// while `busy` is held.
    private var threadCount = 0

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
            nextTask.store(0, ordering: .relaxed)
            let g = generation.load(ordering: .relaxed) &+ 1
            open.store(g, ordering: .sequentiallyConsistent)
            generation.store(g, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock(); wake.broadcast(); wake.unlock()
            }
            takeTasks(worker: 0, body)
            // Every task is taken: close the job, then wait only for threads still inside it.
            open.store(-1, ordering: .sequentiallyConsistent)
            var polls = 0
            while active.load(ordering: .sequentiallyConsistent) > 0 {
                polls += 1
                if polls & 63 == 0 { sched_yield() }
            }
            self.body = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Starts worker `index`; it waits for the region after generation `seen`.
    private func startThread(index: Int, seen: Int) {
        threadCount = index
        let thread = Thread { [unowned self] in self.workerLoop(index: index, seen: seen) }
        thread.name = "RefTensor worker \(index)"
        thread.start()
    }

    private func workerLoop(index: Int, seen start: Int) {
        var seen = start
        while true {
            seen = waitForRegion(after: seen)
            active.wrappingAdd(1, ordering: .sequentiallyConsistent)
            // Still open: the caller has not closed it, so it is waiting for us and the
            // job's closure and sizes stay valid until we leave.
            if open.load(ordering: .sequentiallyConsistent) == seen { runShare(index: index) }
            // Every reference to the job's closure is gone by now (runShare returned),
            // as `withoutActuallyEscaping` in `run` requires.
            active.wrappingSubtract(1, ordering: .sequentiallyConsistent)
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
            if polls & 63 == 0 {
                if DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
                // Let any other runnable thread (another process's) have the core; alone
                // on the machine this returns at once.
                sched_yield()
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
