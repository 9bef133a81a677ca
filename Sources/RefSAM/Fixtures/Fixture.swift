import Foundation
import RefTensor

/// A train-step fixture (docs/FIXTURES.md): `fixture.json` plus `.npy` inputs and outputs.
public struct Fixture {
    public static let format = "sam-fixture/1"

    public enum DType: String, Sendable { case float32, float64 }

    public var directory: String
    public var dtype: DType
    public var model: Model
    public var step: StepHyperparameters
    public var producer: String
    public var inputs: [String]
    public var outputs: [String]

    /// Loads and validates `fixture.json` in `directory`.
    public static func load(_ directory: String) throws -> Fixture {
        let path = (directory as NSString).appendingPathComponent("fixture.json")
        func bad(_ why: String) -> FixtureError { .malformed(path: path, reason: why) }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("cannot read the file") }
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
        let step = StepHyperparameters(optimizer: optimizer, rho: try number("rho", default: 0), learningRate: try number("learning_rate"),
                                       momentum: try number("momentum"), weightDecay: try number("weight_decay"),
                                       samShards: Int(try number("sam_shards", default: 1)))
        guard let inputs = root["inputs"] as? [String], let outputs = root["outputs"] as? [String] else {
            throw bad("inputs and outputs must be lists of names")
        }
        return Fixture(directory: directory, dtype: dtype, model: model, step: step,
                       producer: root["producer"] as? String ?? "", inputs: inputs, outputs: outputs)
    }

    static func parseModel(_ m: [String: Any], _ bad: (String) -> FixtureError) throws -> Model {
        guard let name = m["name"] as? String else { throw bad("model.name is missing") }
        guard let classes = (m["num_classes"] as? NSNumber)?.intValue, classes >= 1 else { throw bad("model.num_classes is missing") }
        switch name {
        case "MLP":
            guard let n = m["num_neurons"] as? [NSNumber] else { throw bad("model.num_neurons is missing") }
            return Model(.mlp(numNeurons: n.map(\.intValue)), numClasses: classes)
        case "ResNet18", "ResNet50_ImageNet":
            guard let f = (m["num_filters"] as? NSNumber)?.intValue, f >= 1 else { throw bad("model.num_filters is missing") }
            return Model(name == "ResNet18" ? .resNet18(numFilters: f) : .resNet50ImageNet(numFilters: f), numClasses: classes)
        default:
            throw bad("unknown model \(name) (MLP, ResNet18, ResNet50_ImageNet)")
        }
    }

    public func tensorPath(_ kind: String, _ name: String) -> String {
        ((directory as NSString).appendingPathComponent(kind) as NSString).appendingPathComponent(name + ".npy")
    }

    /// Reads an input; a missing or unreadable input makes the fixture malformed.
    func input(_ name: String) throws -> Npy.Array {
        do { return try Npy.read(contentsOf: tensorPath("inputs", name)) } catch let e as NpyError {
            throw FixtureError.malformed(path: e.path, reason: e.reason)
        }
    }

    /// The step's initial state, batch, as tensors of T.
    func loadInputs<T: RefScalar>(_: T.Type) throws -> (state: TrainState<T>, images: Tensor<T>, labels: [Int32]) {
        func tree(_ prefix: String) throws -> TensorTree<T> {
            var t = TensorTree<T>()
            for name in inputs where name.hasPrefix(prefix + "/") {
                t[String(name.dropFirst(prefix.count + 1))] = try input(name).tensor(T.self, name: tensorPath("inputs", name))
            }
            return t
        }
        guard inputs.contains("image"), inputs.contains("label") else {
            throw FixtureError.malformed(path: directory, reason: "inputs must include image and label")
        }
        let images = try input("image").tensor(T.self, name: tensorPath("inputs", "image"))
        let labels = try input("label").int32s(name: tensorPath("inputs", "label"))
        let params = try tree("params")
        var trace = try tree("trace")
        if trace.isEmpty { trace = params.zeros }
        let mask = try tree("mask")
        return (TrainState(params: params, batchStats: try tree("batch_stats"), trace: trace, mask: mask.isEmpty ? nil : mask),
                images, labels)
    }
}

public enum FixtureError: Error, CustomStringConvertible {
    case malformed(path: String, reason: String)
    public var description: String {
        switch self { case let .malformed(path, reason): return "malformed fixture: \(path): \(reason)" }
    }
}

/// One output tensor compared with a fixture's.
public struct TensorComparison: Sendable {
    public var name: String
    public var shape: [Int]
    public var maxAbsoluteError: Double
    public var maxRelativeError: Double
    public var passed: Bool
    /// Why it failed without a comparison (missing file, shape mismatch, unknown name).
    public var problem: String?
}

public enum FixtureReplay {
    /// Default tolerances of docs/FIXTURES.md.
    public static func defaultTolerance(_ dtype: Fixture.DType) -> (rtol: Double, atol: Double) {
        dtype == .float64 ? (1e-9, 1e-12) : (1e-4, 1e-6)
    }

    /// This reference's outputs for the fixture's inputs, by output name.
    public static func compute<T: RefScalar>(_ f: Fixture, _: T.Type) throws -> [String: Tensor<T>] {
        let (state, images, labels) = try f.loadInputs(T.self)
        let r: StepResult<T>
        do {
            r = try TrainStep.run(f.model, state: state, images: images, labels: labels, f.step)
        } catch {
            throw FixtureError.malformed(path: f.directory, reason: "the step cannot run on these inputs: \(error)")
        }
        var out: [String: Tensor<T>] = ["loss": Tensor(scalar: r.loss), "logits": r.logits]
        for (p, t) in r.gradsFirst.entries { out["grads_first/" + p] = t }
        for (p, t) in r.grads.entries { out["grads/" + p] = t }
        for (p, t) in r.state.params.entries { out["params/" + p] = t }
        for (p, t) in r.state.trace.entries { out["trace/" + p] = t }
        for (p, t) in r.state.batchStats.entries { out["batch_stats/" + p] = t }
        return out
    }

    /// Replays `f` in its dtype and compares every listed output: |a - b| <= atol + rtol |b|.
    public static func verify(_ f: Fixture, rtol: Double? = nil, atol: Double? = nil) throws -> [TensorComparison] {
        let tol = defaultTolerance(f.dtype)
        switch f.dtype {
        case .float32: return try compare(f, compute(f, Float.self), rtol ?? tol.rtol, atol ?? tol.atol)
        case .float64: return try compare(f, compute(f, Double.self), rtol ?? tol.rtol, atol ?? tol.atol)
        }
    }

    static func compare<T: RefScalar>(_ f: Fixture, _ ours: [String: Tensor<T>], _ rtol: Double, _ atol: Double) -> [TensorComparison] {
        f.outputs.map { name in
            func failed(_ why: String, _ shape: [Int] = []) -> TensorComparison {
                TensorComparison(name: name, shape: shape, maxAbsoluteError: .nan, maxRelativeError: .nan, passed: false, problem: why)
            }
            let path = f.tensorPath("outputs", name)
            guard FileManager.default.fileExists(atPath: path) else { return failed("missing file \(path)") }
            guard let expected = try? Npy.read(contentsOf: path).tensor(Double.self, name: path) else {
                return failed("unreadable or not float: \(path)")
            }
            guard let mine = ours[name]?.converted(to: Double.self) else { return failed("not an output of a train step", expected.shape) }
            guard mine.shape == expected.shape else {
                return failed("shape \(mine.shape) here, \(expected.shape) in the fixture", expected.shape)
            }
            let d = mine.maxDifference(expected)
            return TensorComparison(name: name, shape: expected.shape, maxAbsoluteError: d.absolute, maxRelativeError: d.relative,
                                    passed: mine.isClose(to: expected, rtol: rtol, atol: atol), problem: nil)
        }
    }
}

extension FixtureReplay {
    /// What `ref-run verify` prints and its exit status: 0 when every output passes,
    /// 1 when one fails or is missing, 2 when the fixture is malformed.
    public static func report(_ directory: String, rtol: Double? = nil, atol: Double? = nil) -> (lines: [String], status: Int32) {
        let fixture: Fixture
        let results: [TensorComparison]
        do {
            fixture = try Fixture.load(directory)
            results = try verify(fixture, rtol: rtol, atol: atol)
        } catch {
            return (["error: \(error)"], 2)
        }
        let tol = defaultTolerance(fixture.dtype)
        var lines = ["fixture \(directory): \(fixture.model), \(fixture.step.optimizer.rawValue), \(fixture.dtype.rawValue), producer: \(fixture.producer)",
                     "tolerance: rtol \(rtol ?? tol.rtol), atol \(atol ?? tol.atol)"]
        let width = max(20, results.map(\.name.count).max() ?? 0)
        func fmt(_ x: Double) -> String { String(format: "%.3e", x) }
        for r in results {
            let name = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
            if let p = r.problem {
                lines.append("\(name)  FAIL  \(p)")
            } else {
                lines.append("\(name)  \(r.passed ? "pass" : "FAIL")  shape \(r.shape)  max abs \(fmt(r.maxAbsoluteError))  max rel \(fmt(r.maxRelativeError))")
            }
        }
        let failed = results.filter { !$0.passed }.count
        lines.append(failed == 0 ? "all \(results.count) outputs pass" : "\(failed) of \(results.count) outputs FAIL")
        return (lines, failed == 0 ? 0 : 1)
    }
}
