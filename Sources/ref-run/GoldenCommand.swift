import Foundation
import RefSAM

/// `ref-run golden --config=FILE [--config.KEY=VALUE ...] --out DIR [--dtype float64]
/// [--steps K] [--batch N] [--synthetic] [--probe]`: writes K consecutive one-step
/// fixtures of this reference from the config's model, initialisation, mask and first
/// batches.
enum GoldenCommand {
    /// `--probe`'s hyperparameters: weight decay and rho large enough that the
    /// weight-decay bugs (`wd (p + e)` for `wd p`, or none) move a float32 step further
    /// than float32 rounding does (at the configs' 5e-4 and 0.05 they need not: docs/FIXTURES.md).
    static let probe: [(String, String)] = [("weight_decay", "0.05"), ("rho", "0.5")]

    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["config", "out", "dtype", "steps", "batch", "threads", "device"], command: "golden")
        let device = try DeviceOption.parse(args)
        guard let out = args.options["out"] else { throw UsageError("golden needs --out DIR") }
        let probe = args.switches.contains("probe")
        var overrides = (probe ? Self.probe : []) + args.configOverrides    // later overrides win
        if let batch = try args.int("batch") { overrides.append(("batch_size", String(batch))) }
        if let dtype = args.options["dtype"] { overrides.append(("dtype", dtype)) }
        let spec = RunSpec(config: try Config.load(file: args.options["config"], overrides: overrides))
        let steps = try args.int("steps") ?? 1
        guard steps >= 1 else { throw UsageError("--steps must be >= 1") }
        let synthetic = args.switches.contains("synthetic")
        let producer = "ref-run golden \(RefRun.version)" + (device == .cpu ? "" : " --device \(device.rawValue)")
            + (probe ? " --probe" : "")
        let mask = !args.switches.contains("no-mask")
        let written = spec.dtype == .float64
            ? try Golden.write(Double.self, spec: spec, steps: steps, synthetic: synthetic, out: out, producer: producer, mask: mask,
                                step: device.stepFunction(Double.self))
            : try Golden.write(Float.self, spec: spec, steps: steps, synthetic: synthetic, out: out, producer: producer, mask: mask,
                                step: device.stepFunction(Float.self))
        for (dir, loss) in written { print("\(dir): loss \(loss)") }
        return 0
    }
}
