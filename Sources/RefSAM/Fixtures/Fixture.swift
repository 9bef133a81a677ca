import Foundation
import RefSAMConfig
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// A train-step fixture (docs/FIXTURES.md): `fixture.json` plus `.npy` inputs and outputs.
public struct Fixture: Sendable {
    /// The `format` value of `fixture.json` this version reads and writes.
    public static let format = "sam-fixture/1"

    /// The fixture's directory (holding fixture.json, inputs/, outputs/).
    public var directory: String
    /// The dtype of every float input and output.
    public var dtype: DType
    /// The model the step runs.
    public var model: Model
    /// The step's hyperparameters.
    public var step: StepHyperparameters
    /// Who wrote the fixture (free text).
    public var producer: String
    /// Names of the input tensors (`image`, `label`, `params/...`, ...).
    public var inputs: [String]
    /// Names of the output tensors to compare (never empty).
    public var outputs: [String]
    /// `"trace": "zero"` in fixture.json: the fixture gives no `trace/` inputs because the
    /// momentum trace is zero (a first step). Without it every parameter needs its trace.
    public var traceIsZero: Bool = false

    /// Loads and validates `fixture.json` in `directory`.
    public static func load(_ directory: String) throws -> Fixture {
        let path = (directory as NSString).appendingPathComponent("fixture.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw FixtureError.malformed(path: path, reason: "cannot read the file") }
        return try parse(data, directory: directory)
    }

    /// Parses and validates the bytes of a `fixture.json` belonging to `directory`.
    public static func parse(_ data: Data, directory: String) throws -> Fixture {
        let path = (directory as NSString).appendingPathComponent("fixture.json")
        func bad(_ why: String) -> FixtureError { .malformed(path: path, reason: why) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw bad("not a JSON object") }
        guard let format = root["format"] as? String, format == Fixture.format else {
            throw bad("format must be \"\(Fixture.format)\", got \(root["format"].map { "\($0)" } ?? "nothing")")
        }
        guard root["kind"] as? String == "train_step" else { throw bad("kind must be \"train_step\"") }
        guard let d = root["dtype"] as? String, let dtype = DType(rawValue: d) else { throw bad("dtype must be float32 or float64") }
        guard let m = root["model"] as? [String: Any] else { throw bad("no model object") }
        let model = try parseModel(m, bad)
        guard let s = root["step"] as? [String: Any] else { throw bad("no step object") }
        func number(_ key: String, default def: Double? = nil) throws -> Double {
            if let v = s[key] as? NSNumber { return v.doubleValue }
            if let def { return def }
            throw bad("step.\(key) is missing or not a number")
        }
        guard let o = s["optimizer"] as? String, let optimizer = Optimizer(rawValue: o) else { throw bad("step.optimizer must be sgd or sam") }
        let shards = try number("sam_shards", default: 1)
        guard shards >= 1, shards <= 4096, shards == shards.rounded() else { throw bad("step.sam_shards must be a whole number in 1...4096, got \(shards)") }
        let step = StepHyperparameters(optimizer: optimizer, rho: try number("rho", default: 0), learningRate: try number("learning_rate"),
                                       momentum: try number("momentum"), weightDecay: try number("weight_decay"),
                                       samShards: Int(shards))
        guard let inputs = root["inputs"] as? [String], let outputs = root["outputs"] as? [String] else {
            throw bad("inputs and outputs must be lists of names")
        }
        guard !outputs.isEmpty else { throw bad("outputs is empty: a fixture must name the tensors it checks") }
        var traceIsZero = false
        if let t = root["trace"] {
            guard t as? String == "zero" else { throw bad("trace, when given, must be \"zero\" (no trace/ inputs: the trace is zero)") }
            traceIsZero = true
        }
        return Fixture(directory: directory, dtype: dtype, model: model, step: step,
                       producer: root["producer"] as? String ?? "", inputs: inputs, outputs: outputs, traceIsZero: traceIsZero)
    }

    static func parseModel(_ m: [String: Any], _ bad: (String) -> FixtureError) throws -> Model {
        guard let name = m["name"] as? String else { throw bad("model.name is missing") }
        guard let classes = (m["num_classes"] as? NSNumber)?.intValue, (1...1 << 20).contains(classes) else {
            throw bad("model.num_classes must be a whole number in 1...\(1 << 20)")
        }
        guard let model = ModelName(rawValue: name) else { throw bad("unknown model \(name) (MLP, ResNet18, ResNet50_ImageNet)") }
        switch model {
        case .mlp:
            guard let n = m["num_neurons"] as? [NSNumber], (1...64).contains(n.count), n.allSatisfy({ (1...1 << 31).contains($0.intValue) }) else {
                throw bad("model.num_neurons must be a list of 1 to 64 widths in 1...\(1 << 31)")
            }
            return Model(.mlp(numNeurons: n.map(\.intValue)), numClasses: classes)
        case .resNet18, .resNet50ImageNet:
            guard let f = (m["num_filters"] as? NSNumber)?.intValue, (1...1 << 20).contains(f) else {
                throw bad("model.num_filters must be a whole number in 1...\(1 << 20)")
            }
            return Model(model == .resNet18 ? .resNet18(numFilters: f) : .resNet50ImageNet(numFilters: f), numClasses: classes)
        }
    }

    /// The `.npy` file of tensor `name` under `inputs` or `outputs`.
    public func tensorPath(_ kind: String, _ name: String) -> String {
        ((directory as NSString).appendingPathComponent(kind) as NSString).appendingPathComponent(name + ".npy")
    }

    /// Reads an input; a missing or unreadable input makes the fixture malformed.
    func input(_ name: String) throws -> Npy.Array {
        do { return try Npy.read(contentsOf: tensorPath("inputs", name)) } catch let TensorError.file(path, reason) {
            throw FixtureError.malformed(path: path, reason: reason)
        }
    }

    /// A float input or output must be in the fixture's dtype: a float32 tensor in a
    /// float64 fixture would be upcast silently and fail as values instead.
    func checkDtype(_ a: Npy.Array, _ kind: String, _ name: String) throws {
        guard a.dtype.name == dtype.rawValue else {
            throw FixtureError.malformed(path: tensorPath(kind, name),
                                         reason: "\(kind)/\(name) is \(a.dtype.name), the fixture's dtype is \(dtype.rawValue)")
        }
    }

    /// Reads a float input, checking its dtype.
    func floatInput<T: RefScalar>(_ name: String, _: T.Type) throws -> Tensor<T> {
        let a = try input(name)
        try checkDtype(a, "inputs", name)
        return try a.tensor(T.self, name: tensorPath("inputs", name))
    }

    /// The step's initial state, batch, as tensors of T.
    /// With `rng`, every nonzero float input but the masks is moved one ulp (see
    /// `Tolerance.conditioned(for:)`).
    func loadInputs<T: RefScalar>(_: T.Type, movedBy rng: RandomGenerator? = nil) throws
        -> (state: TrainState<T>, images: Tensor<T>, labels: [Int32]) {
        func tree(_ prefix: String) throws -> TensorTree<T> {
            var t = TensorTree<T>()
            for name in inputs where name.hasPrefix(prefix + "/") {
                t[String(name.dropFirst(prefix.count + 1))] = try floatInput(name, T.self)
            }
            return t
        }
        guard inputs.contains("image"), inputs.contains("label") else {
            throw FixtureError.malformed(path: directory, reason: "inputs must include image and label")
        }
        let images = try floatInput("image", T.self)
        let labels = try input("label").int32s(name: tensorPath("inputs", "label"))
        let params = try tree("params")
        var trace = try tree("trace")
        if trace.isEmpty {
            guard traceIsZero else {
                throw FixtureError.malformed(path: directory, reason: "no trace/ inputs: give the momentum trace of every parameter, "
                                             + "or set \"trace\": \"zero\" in fixture.json when it is zero")
            }
            trace = params.zeros
        } else if let missing = params.paths.first(where: { trace[$0] == nil }) {
            throw FixtureError.malformed(path: directory, reason: "trace/ inputs are partial: trace/\(missing) is missing")
        }
        let mask = try tree("mask")
        var state = TrainState(params: params, batchStats: try tree("batch_stats"), trace: trace, mask: mask.isEmpty ? nil : mask)
        guard var rng else { return (state, images, labels) }
        let movedImages = images.movedOneUlp(&rng)
        state.params = state.params.movedOneUlp(&rng)
        state.trace = state.trace.movedOneUlp(&rng)
        state.batchStats = state.batchStats.movedOneUlp(&rng)
        return (state, movedImages, labels)
    }
}
