import Foundation
import RefSAM

/// Shows a training run on the terminal: log lines on standard output, and while an
/// epoch runs, a progress line with rate and ETA on standard error when it is a terminal.
final class TerminalObserver: TrainingObserver {
    let drawsProgress = isatty(2) != 0
    var progressDrawn = false

    func log(_ line: String) {
        clearProgress()
        print(line)
        fflush(stdout)
    }

    func stepEnded(epoch: Int, step: Int, of total: Int, seconds: Double) {
        guard drawsProgress else { return }
        let rate = Double(step) / max(seconds, 1e-9)
        let eta = Double(total - step) / max(rate, 1e-9)
        let line = String(format: "\r\u{1B}[2Kepoch %d  step %d/%d  %.1f steps/s  ETA %d:%02d", epoch, step, total, rate,
                          Int(eta) / 60, Int(eta) % 60)
        FileHandle.standardError.write(Data(line.utf8))
        progressDrawn = true
    }

    func clearProgress() {
        if progressDrawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)); progressDrawn = false }
    }
}
