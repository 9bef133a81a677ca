import Foundation
import RefSAM

/// `ref-run bench gemm|conv|step`: timings as JSON lines (see `ref-run help bench`).
enum BenchCommand {
    static func run(_ args: Arguments) throws -> Int32 {
        guard let what = args.positional.first else { throw UsageError("bench needs gemm, conv or step") }
        switch what {
        case "gemm": try gemm(args)
        case "conv": try conv(args)
        case "step": try step(args)
        default: throw UsageError("unknown benchmark '\(what)' (gemm, conv, step)")
        }
        return 0
    }

    static func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }

    /// Timed calls: their median in ms, and per call its ms and the minor page faults
    /// the process took during it (`--per-call` prints both: the first calls of a
    /// process are where allocation and thread start-up show).
    struct Timing {
        var median: Double
        var perCall: [Double]
        var pageFaults: [Int]

        /// The JSON fields `--per-call` adds.
        func fields(_ args: Arguments) -> [(String, Any)] {
            args.switches.contains("per-call") ? [("per_call_ms", perCall), ("per_call_page_faults", pageFaults)] : []
        }
    }

    static func time(_ repeats: Int, warmup: Int = 1, _ body: () throws -> Void) rethrows -> Timing {
        for _ in 0..<warmup { try body() }
        var ts: [Double] = [], faults: [Int] = []
        for _ in 0..<repeats {
            let f0 = minorPageFaults()
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            ts.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            faults.append(minorPageFaults() - f0)
        }
        return Timing(median: median(ts), perCall: ts, pageFaults: faults)
    }

    static func json(_ pairs: [(String, Any)]) -> String {
        "{" + pairs.map { k, v in "\"\(k)\":" + jsonValue(v) }.joined(separator: ",") + "}"
    }

    static func jsonValue(_ v: Any) -> String {
        if let s = v as? String { return "\"\(s)\"" }
        if let d = v as? Double { return String(format: "%.4f", d) }
        if let ds = v as? [Double] { return "[" + ds.map { String(format: "%.4f", $0) }.joined(separator: ",") + "]" }
        if let ns = v as? [Int] { return "[" + ns.map(String.init).joined(separator: ",") + "]" }
        return "\(v)"
    }

    /// Minor page faults of this process so far (getrusage).
    static func minorPageFaults() -> Int {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return u.ru_minflt
    }

    static func gemm(_ args: Arguments) throws {
        try args.check(known: ["m", "n", "k", "threads", "repeat", "layout"], command: "bench")
        let m = try args.int("m", in: 1...65_536) ?? 1024, n = try args.int("n", in: 1...65_536) ?? 1024, k = try args.int("k", in: 1...65_536) ?? 1024
        // NN: A [m,k] and B [k,n] row-major; TN: A stored as [k,m] (x^T in dW = x^T dy); NT: B stored as [n,k] (W^T in dx = dy W^T).
        let layout = args.options["layout"] ?? "NN"
        guard ["NN", "TN", "NT", "TT"].contains(layout) else { throw UsageError("--layout must be NN, TN, NT or TT, got '\(layout)'") }
        let transA = layout.first == "T", transB = layout.last == "T"
        var rng = RandomGenerator(seed: 1)
        let a: Tensor<Float> = rng.uniformTensor([m, k]), b: Tensor<Float> = rng.uniformTensor([k, n])
        var c = Tensor<Float>.zeros([m, n])
        let timing = time(try args.int("repeat", in: 1...100_000) ?? 10) {
            a.scalars.withUnsafeBufferPointer { ap in b.scalars.withUnsafeBufferPointer { bp in c.withUnsafeMutableScalars { cp in
                let am: StridedMatrix<Float> = transA ? .transposed(ap.baseAddress!, columns: m) : .rowMajor(ap.baseAddress!, columns: k)
                let bm: StridedMatrix<Float> = transB ? .transposed(bp.baseAddress!, columns: k) : .rowMajor(bp.baseAddress!, columns: n)
                Gemm.fast(m: m, n: n, k: k, a: am, b: bm, c: cp.baseAddress!, ldc: n, accumulate: false)
            } } }
        }
        let ms = timing.median
        print(json([("bench", "gemm"), ("m", m), ("n", n), ("k", k), ("layout", layout), ("threads", Threads.count),
                    ("gflops", 2 * Double(m) * Double(n) * Double(k) / ms / 1e6), ("ms", ms)] + timing.fields(args)))
    }

    static func conv(_ args: Arguments) throws {
        try args.check(known: ["batch", "size", "cin", "cout", "kernel", "stride", "threads", "repeat"], command: "bench")
        let nb = try args.int("batch", in: 1...4096) ?? 128, s = try args.int("size", in: 1...4096) ?? 32, cin = try args.int("cin", in: 1...65_536) ?? 16
        let cout = try args.int("cout", in: 1...65_536) ?? 16, kk = try args.int("kernel", in: 1...64) ?? 3, st = try args.int("stride", in: 1...64) ?? 1
        let g = try Conv2DOp.geometry(input: [nb, s, s, cin], kernel: [kk, kk, cin, cout], strides: (st, st), padding: .same)
        var rng = RandomGenerator(seed: 1)
        let x: Tensor<Float> = rng.uniformTensor(g.inputShape), w: Tensor<Float> = rng.uniformTensor(g.kernelShape)
        let dy: Tensor<Float> = rng.uniformTensor(g.outputShape)
        let flops = 2 * Double(g.batch * g.outH * g.outW) * Double(g.patchSize * g.outC)
        let repeats = try args.int("repeat", in: 1...100_000) ?? 5
        for (pass, body) in [("forward", { _ = Conv2DKernels.forward(x, w, g) }), ("input_gradient", { _ = Conv2DKernels.inputGradient(dy, w, g) }),
                             ("filter_gradient", { _ = Conv2DKernels.filterGradient(x, dy, g) })] as [(String, () -> Void)] {
            let timing = time(repeats, body), ms = timing.median
            print(json([("bench", "conv"), ("pass", pass), ("batch", nb), ("size", s), ("cin", cin), ("cout", cout), ("kernel", kk),
                        ("stride", st), ("threads", Threads.count), ("gflops", flops / ms / 1e6), ("ms", ms)] + timing.fields(args)))
        }
    }

    static func step(_ args: Arguments) throws {
        try args.check(known: ["model", "num_neurons", "num_filters", "batch", "optimizer", "steps", "threads", "dtype", "dataset", "device"],
                       command: "bench")
        let device = try DeviceOption.parse(args)
        var overrides: [(String, String)] = [("model", args.options["model"] ?? "MLP"), ("batch_size", args.options["batch"] ?? "128"),
                                             ("optimizer", args.options["optimizer"] ?? "sam"), ("dtype", args.options["dtype"] ?? "float32")]
        if let n = args.options["num_neurons"] { overrides.append(("num_neurons", "[" + n + "]")) }
        if let f = args.options["num_filters"] { overrides.append(("num_filters", f)) }
        let model = args.options["model"] ?? "MLP"
        overrides.append(("dataset", args.options["dataset"] ?? (model == "MLP" ? "mnist" : model == "ResNet18" ? "cifar10" : "imagenet2012")))
        let config = try Config.load(file: nil, overrides: overrides)
        let spec = RunSpec(config: config)
        let steps = try args.int("steps", in: 1...1_000_000) ?? 10
        func run<T: RefScalar>(_: T.Type) throws {
            let source = BatchSource<T>.synthetic(spec)
            var state = try spec.initialState(T.self, from: .fresh) { try source.batch(0) }
            let (images, labels) = try source.batch(0)
            let h = spec.hyperparameters(learningRate: 0.01, batchCount: labels.count)
            let timing: Timing
            if let make = device.residentTrainer(T.self) {
                // On the device: the state stays there; each step uploads its batch and copies
                // back its loss and logits (which waits for the step to finish).
                let trainer = try make(spec.model, state, images.shape, h)
                timing = try time(steps, warmup: 2) { _ = try trainer.step(images: images, labels: labels, learningRate: h.learningRate) }
            } else {
                timing = try time(steps, warmup: 2) { _ = try TrainStep.run(spec.model, state: &state, images: images, labels: labels, h) }
            }
            var fields: [(String, Any)] = [("bench", "step"), ("model", config.model.rawValue)]
            if config.model == .mlp { fields.append(("num_neurons", config.numNeurons.map(String.init).joined(separator: ","))) }
            else { fields.append(("num_filters", config.numFilters)) }
            fields += [("batch", config.batchSize), ("optimizer", config.optimizer.rawValue), ("dtype", config.dtype.rawValue),
                       ("device", device.rawValue), ("threads", Threads.count), ("steps", steps), ("ms_per_step", timing.median)] + timing.fields(args)
            print(json(fields))
        }
        switch spec.dtype {
        case .float32: try run(Float.self)
        case .float64: try run(Double.self)
        }
    }
}
