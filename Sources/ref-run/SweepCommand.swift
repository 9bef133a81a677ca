import Foundation
import RefSAM

/// `ref-run sweep --config=FILE --workdir=DIR --grid 'KEY=[V1,...]' ... [--config.KEY=VALUE ...]
/// [--train_examples N] [--test_examples N] [--dry-run | --report]`
enum SweepCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["workdir", "config", "grid", "threads", "train_examples", "test_examples"], command: "sweep")
        if !args.positional.isEmpty { throw UsageError("unexpected argument '\(args.positional[0])'") }
        guard let workdir = args.options["workdir"] else { throw UsageError("sweep needs --workdir=DIR") }
        guard let configPath = args.options["config"] else { throw UsageError("sweep needs --config=FILE") }
        let axes = try (args.repeated["grid"] ?? []).map(SweepGrid.axis(parsing:))
        guard !axes.isEmpty else { throw UsageError("sweep needs at least one --grid 'KEY=[V1,V2,...]'") }
        let sweep = try Sweep(configFile: configPath, overrides: args.configOverrides, grid: SweepGrid(axes: axes), workdir: workdir)
        sweep.trainExamples = try args.int("train_examples", in: 1...Int.max)
        sweep.testExamples = try args.int("test_examples", in: 1...Int.max)
        let count = sweep.runs.count

        if args.switches.contains("report") {
            // The report as the runs' files stand (e.g. while the sweep runs in another terminal).
            for path in try sweep.writeReport() { print("wrote \(path)") }
            return 0
        }
        if args.switches.contains("dry-run") {
            for (i, run) in sweep.runs.enumerated() {
                print("[\(i + 1)/\(count)] \(sweep.status(run).label): ref-run " + run.trainArguments.map(shellQuoted).joined(separator: " "))
            }
            return 0
        }
        try DurableFile.makeDirectory(workdir)
        let progress = SweepProgressLine()
        var trained = Set<Int>()
        let rows = try sweep.run(
            progress: { progress.show($0) },
            runStarted: { i, run, status in
                trained.insert(i)
                progress.clear()
                let resume: String
                if case let .incomplete(e) = status { resume = " (resuming after epoch \(e))" } else { resume = "" }
                print("[\(i + 1)/\(count)] \(run.name)\(resume)")
                print("    ref-run " + run.trainArguments.map(shellQuoted).joined(separator: " "))
                fflush(stdout)
            },
            runEnded: { i, row in
                progress.clear()
                let outcome = row.status == "finished"
                    ? String(format: "final test acc %.4f, best %.4f (epoch %d), train loss %.4f, %.0f s", row.finalTestAccuracy,
                             row.bestTestAccuracy, row.bestEpoch, row.finalTrainLoss, row.seconds)
                    : row.status
                print("[\(i + 1)/\(count)] \(SweepGrid.name(of: row.point)): \(outcome)")
                fflush(stdout)
                if trained.contains(i) { _ = try? sweep.writeReport() }   // skipped runs change nothing
            })
        let written = try sweep.writeReport()
        let failed = rows.filter { $0.status == "failed" }
        print("sweep: \(rows.filter { $0.status == "finished" }.count) of \(count) runs finished"
              + (failed.isEmpty ? "" : ", \(failed.count) failed (see failed.txt in their directories)"))
        for path in written { print("wrote \(path)") }
        return failed.isEmpty ? 0 : 1
    }

    static func shellQuoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "-_=./,:".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// The sweep's progress: runs done, the current run's epoch and step, and the ETA of
/// the whole sweep; redrawn in place on a terminal, else one line per epoch.
final class SweepProgressLine {
    let terminal = isatty(2) != 0
    var drawn = false
    var lastEpoch = (-1, -1)

    func show(_ p: Sweep.Progress) {
        let eta = p.eta.map { String(format: "ETA %d:%02d:%02d", Int($0) / 3600, Int($0) / 60 % 60, Int($0) % 60) } ?? "ETA ..."
        let text = "sweep: \(p.finished)/\(p.runCount) runs done, run \(p.runIndex + 1): epoch \(p.epoch)/\(p.numEpochs) "
            + "step \(p.step)/\(p.stepsPerEpoch), \(eta)"
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
            drawn = true
        } else if p.step == p.stepsPerEpoch && (p.runIndex, p.epoch) != lastEpoch {
            lastEpoch = (p.runIndex, p.epoch)
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    func clear() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)); drawn = false }
    }
}
