import Foundation
import RefSAM

/// `ref-run converge --workdir DIR [--widths 16,64,256,1024] [--methods gd,sam,usam] [--examples N]
/// [--batch B] [--lr LR] [--rho RHO] [--steps K] [--record_every R] [--seed S] [--data_dir DIR]`
enum ConvergeCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        try args.check(known: ["workdir", "widths", "methods", "examples", "batch", "lr", "rho", "steps", "record_every", "seed",
                               "data_dir", "threads"], command: "converge")
        if !args.positional.isEmpty { throw UsageError("unexpected argument '\(args.positional[0])'") }
        guard let workdir = args.options["workdir"] else { throw UsageError("converge needs --workdir=DIR") }
        var setup = Convergence.Setup()
        if let w = args.options["widths"] {
            setup.widths = try w.split(separator: ",").map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v > 0 else { throw UsageError("--widths expects positive integers, got '\($0)'") }
                return v
            }
        }
        if let m = args.options["methods"] {
            setup.methods = try m.split(separator: ",").map {
                guard let v = Convergence.Method(rawValue: String($0)) else { throw UsageError("--methods: '\($0)' is not one of gd, sam, usam") }
                return v
            }
        }
        setup.examples = try args.int("examples", in: 1...60000) ?? setup.examples
        setup.batchSize = try args.int("batch", in: 1...60000) ?? setup.examples
        setup.learningRate = try args.double("lr") ?? setup.learningRate
        setup.rho = try args.double("rho") ?? setup.rho
        setup.steps = try args.int("steps", in: 1...10_000_000) ?? setup.steps
        setup.recordEvery = try args.int("record_every", in: 1...Int.max) ?? setup.recordEvery
        setup.seed = UInt64(try args.int("seed", in: 0...Int.max) ?? 1)
        guard setup.learningRate > 0, setup.rho >= 0 else { throw UsageError("--lr must be > 0 and --rho >= 0") }
        let data = try Datasets.load(.mnist, split: .train, dataDir: args.options["data_dir"])
        print("converge: \(setup.examples) MNIST examples, squared loss on one-hot targets, widths \(setup.widths), "
              + "methods \(setup.methods.map(\.rawValue)), lr \(setup.learningRate), rho \(setup.rho), batch \(setup.batchSize), \(setup.steps) steps")
        let curves = try Convergence.run(setup, data: data) { c in
            let rate = c.ratePerStep.map { String(format: "rate %.6f per step", $0) } ?? "no linear rate"
            let decade = c.stepsPerDecade.map { String(format: ", %.0f steps per decade", $0) } ?? ""
            print(String(format: "  width %5d ", c.width) + c.method.padding(toLength: 5, withPad: " ", startingAt: 0)
                  + String(format: "%8d parameters: final loss %.3e, ", c.parameters, c.finalLoss) + rate + decade)
            fflush(stdout)
        }
        try DurableFile.makeDirectory(workdir)
        var csv = "width,method,parameters,final_loss,rate_per_step,steps_per_decade\n"
        for c in curves {
            csv += "\(c.width),\(c.method),\(c.parameters),\(String(format: "%.6e", c.finalLoss)),"
                + "\(c.ratePerStep.map { String(format: "%.8f", $0) } ?? ""),\(c.stepsPerDecade.map { String(format: "%.1f", $0) } ?? "")\n"
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let files: [(String, [UInt8])] = [("converge.csv", Array(csv.utf8)), ("curves.json", Array(try enc.encode(curves))),
                                          ("converge.svg", Array(Convergence.figure(curves, setup: setup).utf8)),
                                          ("rate.svg", Array(Convergence.rateFigure(curves, setup: setup).utf8))]
        for (name, bytes) in files {
            let path = (workdir as NSString).appendingPathComponent(name)
            try DurableFile.write(bytes, to: path)
            print("wrote \(path)")
        }
        return 0
    }
}
