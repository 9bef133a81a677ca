import Foundation
import RefSAM

/// `ref-run sharpness --config=FILE --checkpoint=PATH [--config.KEY=VALUE ...] [--examples N]
/// [--power_iterations K] [--trace_probes P] [--slq_probes S] [--lanczos_steps M] [--seed N]
/// [--label L] [--out FILE.json]`
enum SharpnessCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["config", "checkpoint", "threads", "examples", "power_iterations", "trace_probes", "slq_probes",
                               "lanczos_steps", "seed", "label", "out"], command: "sharpness")
        if !args.positional.isEmpty { throw UsageError("unexpected argument '\(args.positional[0])'") }
        guard let configPath = args.options["config"] else { throw UsageError("sharpness needs --config=FILE (the run's config)") }
        guard let path = args.options["checkpoint"] else { throw UsageError("sharpness needs --checkpoint=PATH") }
        let spec = RunSpec(config: try Config.load(file: configPath, overrides: args.configOverrides))
        let checkpoint = try EvalCommand.checkpointFile(path)
        var options = Sharpness.Options()
        options.powerIterations = try args.int("power_iterations", in: 1...10_000) ?? options.powerIterations
        options.traceProbes = try args.int("trace_probes", in: 1...100_000) ?? options.traceProbes
        options.slqProbes = try args.int("slq_probes", in: 0...1000) ?? options.slqProbes
        options.lanczosSteps = try args.int("lanczos_steps", in: 1...1000) ?? options.lanczosSteps
        options.seed = UInt64(try args.int("seed", in: 0...Int.max) ?? 0)
        let examples = try args.int("examples", in: 1...Int.max) ?? 1000
        let data = try spec.loadData(.train, examples: examples)
        let state: TrainState<Double>
        do {
            state = try spec.initialState(Double.self, from: .checkpoint(checkpoint))
        } catch let e as CheckpointError {
            guard case .modelMismatch = e else { throw e }
            throw CommandError("\(e)\nGive the config the checkpoint was trained with (--config and its --config overrides)")
        }
        let surface = try Sharpness.surface(spec: spec, state: state, data: data)
        let label = args.options["label"] ?? "\(spec.optimizer.rawValue) \(spec.model)"
        print("sharpness of \(checkpoint) (step \(state.step)): \(spec.model), \(surface.exampleCount) training examples in chunks of \(spec.batchSize), Double")
        let report = try Sharpness.measure(surface, params: state.params, rho: spec.rho, options: options, label: label,
                                           checkpoint: checkpoint) { print("  " + $0); fflush(stdout) }
        print(String(format: "  %d gradient evaluations, %.1f s", report.gradientEvaluations, report.seconds))
        if let out = args.options["out"] {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            enc.nonConformingFloatEncodingStrategy = SharpnessReport.nonFinite
            try DurableFile.write(Array(try enc.encode(report)), to: out)
            print("wrote \(out)")
        }
        return 0
    }
}

/// `ref-run spectra --out FILE.svg REPORT.json...`: the SLQ spectral densities of
/// several `sharpness --out` reports on one chart.
enum SpectraCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["out", "title", "threads"], command: "spectra")
        guard let out = args.options["out"] else { throw UsageError("spectra needs --out FILE.svg") }
        guard !args.positional.isEmpty else { throw UsageError("spectra needs at least one report written by 'ref-run sharpness --out'") }
        let reports = try args.positional.map { path -> SharpnessReport in
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandError("cannot read \(path)") }
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = SharpnessReport.nonFiniteDecoding
            do { return try dec.decode(SharpnessReport.self, from: data) } catch {
                throw CommandError("\(path) is not a report of 'ref-run sharpness --out' (\(error))")
            }
        }
        let svg = Sharpness.spectraFigure(reports, title: args.options["title"] ?? "Hessian spectra")
        try DurableFile.write(Array(svg.utf8), to: out)
        print("wrote \(out)")
        return 0
    }
}
