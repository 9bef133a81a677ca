import Foundation
import RefSAM
import RefSAMCUDA

enum RefRun {
    static let version = "0.1.0"
    static let booleans: Set<String> = ["overwrite", "synthetic", "help", "failures-only", "json", "no-mask", "probe", "dry-run", "report", "per-call"]

    static func main() -> Int32 {
        Allocator.retainFreedMemory()
        var argv = Array(CommandLine.arguments.dropFirst())
        let commands = ["train", "eval", "verify", "replay", "diagnose", "golden", "bench", "sweep", "sharpness", "spectra", "converge", "help"]
        var command = "train"
        if let first = argv.first, !first.hasPrefix("-") {
            guard commands.contains(first) else {
                printError("unknown subcommand '\(first)' (one of: \(commands.joined(separator: ", ")))")
                return 2
            }
            command = first
            argv.removeFirst()
        }
        do {
            let args = try Arguments(argv, booleans: booleans)
            if command == "help" || args.switches.contains("help") || (command == "train" && argv.isEmpty) {
                let topic = command == "help" ? args.positional.first : (argv.isEmpty ? nil : command)
                if let topic, let page = Help.pages[topic] { print(page) } else {
                    if let topic { printError("no help for '\(topic)'"); print(Help.overview); return 2 }
                    print(Help.overview)
                }
                return 0
            }
            if let t = try args.int("threads", in: 1...Int.max) { try Threads.use(threads: t) }
            try args.applyConvAlgorithm()
            switch command {
            case "eval": return try EvalCommand.run(args)
            case "verify": return try VerifyCommand.run(args)
            case "replay": return try ReplayCommand.run(args)
            case "diagnose": return try DiagnoseCommand.run(args)
            case "golden": return try GoldenCommand.run(args)
            case "bench": return try BenchCommand.run(args)
            case "sweep": return try SweepCommand.run(args)
            case "sharpness": return try SharpnessCommand.run(args)
            case "spectra": return try SpectraCommand.run(args)
            case "converge": return try ConvergeCommand.run(args)
            default:
                if !args.positional.isEmpty { throw UsageError("unexpected argument '\(args.positional[0])'") }
                return try TrainCommand.run(args)
            }
        } catch let e as UsageError {
            printError("\(e.description)\n(see ref-run help\(command == "train" ? "" : " " + command))")
            return 2
        } catch {
            printError("\(error)")
            return exitStatus(for: error)
        }
    }

    /// 2 when the input is at fault (a config, data file, checkpoint or fixture that is
    /// wrong, or a request it cannot meet), 1 when a valid run failed (it diverged, the
    /// disk refused a write).
    static func exitStatus(for error: Error) -> Int32 {
        switch error {
        case let e as CommandError: return e.status
        case is ConfigError, is DataError, is FixtureError, is ModelError, is TreeError: return 2
        case let e as TensorError: if case .file = e { return 2 } else { return 1 }
        case let e as CheckpointError: if case .io = e { return 1 } else { return 2 }
        case let e as RunError: if case .nonFinite = e { return 1 } else { return 2 }
        case let e as CUDAError:
            switch e {
            case .libraryNotFound, .missingSymbol, .unsupported: return 2   // nothing to run on, or a request it cannot meet
            case .driver, .compile: return 1
            }
        default: return 1
        }
    }
}

exit(RefRun.main())
