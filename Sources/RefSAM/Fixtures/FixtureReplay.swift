import Foundation
import RefSAMConfig
import RefSAMTraining
import RefTensor

/// One output tensor compared with a fixture's.
public struct TensorComparison: Sendable {
    /// The output's name (`loss`, `grads/Dense_0/kernel`, ...).
    public var name: String
    /// Its shape in the fixture.
    public var shape: [Int]
    /// max |ours - fixture|.
    public var maxAbsoluteError: Double
    /// max |ours - fixture| / |fixture| over nonzero fixture entries.
    public var maxRelativeError: Double
    /// Every element within atol + rtol * |fixture|.
    public var passed: Bool
    /// Why it failed without a comparison (missing file, shape mismatch, unknown name).
    public var problem: String?
}

/// Replays fixtures: this reference's step on a fixture's inputs, compared with its outputs.
public enum FixtureReplay {
    /// Default tolerances of docs/FIXTURES.md.
    public static func defaultTolerance(_ dtype: DType) -> (rtol: Double, atol: Double) {
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

/// The result of replaying one fixture directory: what was compared, at which
/// tolerance, and how each output came out.
public struct ReplayOutcome: Sendable {
    /// The fixture replayed.
    public var fixture: Fixture
    /// The relative tolerance used.
    public var rtol: Double
    /// The absolute tolerance used.
    public var atol: Double
    /// One comparison per output the fixture lists, in its order.
    public var results: [TensorComparison]
    /// The outputs that failed or could not be compared.
    public var failures: [TensorComparison] { results.filter { !$0.passed } }
    /// True when every output passed.
    public var passed: Bool { failures.isEmpty }
}

extension FixtureReplay {
    /// Loads the fixture in `directory`, replays it and compares every output at
    /// `rtol`/`atol` (default: `defaultTolerance` of its dtype). Throws `FixtureError`
    /// when the fixture is malformed (it cannot be replayed at all).
    public static func replay(directory: String, rtol: Double? = nil, atol: Double? = nil) throws -> ReplayOutcome {
        let fixture = try Fixture.load(directory)
        let tol = defaultTolerance(fixture.dtype)
        let results = try verify(fixture, rtol: rtol, atol: atol)
        return ReplayOutcome(fixture: fixture, rtol: rtol ?? tol.rtol, atol: atol ?? tol.atol, results: results)
    }
}
