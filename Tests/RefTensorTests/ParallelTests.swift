import XCTest
@testable import RefTensor

/// The worker pool: every task runs exactly once, worker indices stay in range and
/// are never shared by two tasks at once, and a parallel region started from
/// inside another runs serially instead of deadlocking.
final class ParallelTests: XCTestCase {
    func testEveryTaskRunsOnceOnDistinctWorkers() {
        for threads in [1, 2, 3, 8] {
            for tasks in [0, 1, 2, 7, 100] {
                var runs = [Int](repeating: 0, count: tasks)
                var busy = [Int](repeating: 0, count: threads)
                var overlap = false, outOfRange = false
                let lock = NSLock()
                withThreads(threads) {
                    runs.withUnsafeMutableBufferPointer { r in
                        let r = r.baseAddress
                        Threads.parallelFor(tasks) { t, w in
                            lock.lock()
                            if w < 0 || w >= threads { outOfRange = true } else {
                                if busy[w] != 0 { overlap = true }
                                busy[w] += 1
                            }
                            lock.unlock()
                            r![t] += 1
                            lock.lock()
                            if w >= 0 && w < threads { busy[w] -= 1 }
                            lock.unlock()
                        }
                    }
                }
                XCTAssertEqual(runs, [Int](repeating: 1, count: tasks), "threads \(threads), tasks \(tasks)")
                XCTAssertFalse(overlap, "two tasks shared a worker index at once (threads \(threads))")
                XCTAssertFalse(outOfRange, "worker index out of range (threads \(threads))")
            }
        }
    }

    /// Thousands of short regions back to back, with worker counts changing between
    /// them: pool threads that arrive after a region closed must take nothing, and
    /// those inside must finish before the next region's job replaces the closure.
    func testManyShortRegionsEachRunEveryTaskOnce() {
        var byPoolThreads = 0
        withThreads(4) {
            for round in 0..<2_000 {
                let tasks = 1 + round % 7, workers = 1 + round % 4
                let steps = round % 3 == 0 ? 20_000 : 10     // a few microseconds of work, so pool threads join in
                var hits = [Int](repeating: 0, count: tasks), ranOn = [Int](repeating: 0, count: tasks)
                var results = [UInt64](repeating: 0, count: tasks)
                hits.withUnsafeMutableBufferPointer { h in ranOn.withUnsafeMutableBufferPointer { w in
                    results.withUnsafeMutableBufferPointer { x in
                        let (h, w, x) = (h.baseAddress!, w.baseAddress!, x.baseAddress!)
                        Threads.parallelFor(tasks, workers: workers) { t, worker in
                            x[t] = Self.spin(UInt64(t), steps)
                            h[t] += 1
                            w[t] = worker
                        }
                    }
                } }
                if hits != [Int](repeating: 1, count: tasks) { return XCTFail("round \(round): \(hits)") }
                // Checked, so that an optimized build cannot drop the work (it did, when the
                // result went unused: every region then ended before a pool thread woke).
                if results != (0..<tasks).map({ Self.spin(UInt64($0), steps) }) { return XCTFail("round \(round): \(results)") }
                byPoolThreads += ranOn.filter { $0 > 0 }.count
            }
        }
        XCTAssertGreaterThan(byPoolThreads, 0, "no task ran on a pool thread: the test did not exercise the pool")
    }

    /// `steps` steps of a linear congruential generator from `x`.
    static func spin(_ x: UInt64, _ steps: Int) -> UInt64 {
        var x = x
        for _ in 0..<steps { x = x &* 6364136223846793005 &+ 1 }
        return x
    }

    func testNestedRegionRunsSerially() {
        let sums = withThreads(2) { () -> [Int] in
            var sums = [Int](repeating: 0, count: 4)
            sums.withUnsafeMutableBufferPointer { s in
                let s = s.baseAddress!
                Threads.parallelFor(4) { t, _ in
                    var inner = [Int](repeating: 0, count: 10)
                    inner.withUnsafeMutableBufferPointer { p in
                        let p = p.baseAddress!
                        Threads.parallelFor(10) { i, _ in p[i] = i * (t + 1) }
                    }
                    s[t] = inner.reduce(0, +)
                }
            }
            return sums
        }
        XCTAssertEqual(sums, [45, 90, 135, 180])
    }
}
