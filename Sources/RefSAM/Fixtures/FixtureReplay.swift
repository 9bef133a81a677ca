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
    /// max |ours - fixture| / (atol + rtol * |fixture|): at most 1 when the output passes,
    /// and how far outside the tolerance it is when not; NaN when an element of either
    /// side is NaN (no distance is defined), infinite for a missing or unreadable output.
    public var errorToTolerance: Double = .nan
    /// Every element within atol + rtol * |fixture|.
    public var passed: Bool
    /// Why it failed without a comparison (missing file, shape mismatch, unknown name).
    public var problem: String?
    /// Elements where one side is NaN or infinite and the other is not, described
    /// ("2 NaN here where the fixture is finite"); nil when there are none.
    public var nonFinite: String? = nil
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
    /// Results come in the order the step computes them (`computationOrder`).
    public static func verify(_ f: Fixture, rtol: Double? = nil, atol: Double? = nil) throws -> [TensorComparison] {
        let tol = defaultTolerance(f.dtype)
        let results: [TensorComparison], order: [String]
        switch f.dtype {
        case .float32: (results, order) = try compareInOrder(f, Float.self, rtol ?? tol.rtol, atol ?? tol.atol)
        case .float64: (results, order) = try compareInOrder(f, Double.self, rtol ?? tol.rtol, atol ?? tol.atol)
        }
        let rank = Dictionary(order.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        return results.enumerated().sorted { (rank[$0.element.name] ?? order.count + $0.offset, $0.offset)
            < (rank[$1.element.name] ?? order.count + $1.offset, $1.offset) }.map(\.element)
    }

    static func compareInOrder<T: RefScalar>(_ f: Fixture, _: T.Type, _ rtol: Double, _ atol: Double) throws
        -> ([TensorComparison], [String]) {
        let results = try compare(f, compute(f, T.self), rtol, atol)
        let image = try f.input("image")
        guard image.shape.count == 4 else { return (results, []) }
        let (params, stats) = try f.model.initialize(seed: 0, imageShape: Array(image.shape.dropFirst()), T.self)
        return (results, computationOrder(parameters: params.paths, statistics: stats.paths))
    }

    /// Output names in the order a step computes them: loss, logits, the first pass's
    /// gradients from the input side, SAM's gradients, the trace, the parameters, the
    /// BatchNorm statistics. A bug shows first where it starts.
    public static func computationOrder(parameters: [String], statistics: [String]) -> [String] {
        ["loss", "logits"] + ["grads_first", "grads", "trace", "params"].flatMap { c in parameters.map { c + "/" + $0 } }
            + statistics.map { "batch_stats/" + $0 }
    }

    /// Counts the elements where exactly one side is NaN, or the sides are different infinities.
    static func nonFiniteMismatch(ours: Tensor<Double>, fixture: Tensor<Double>) -> String? {
        var nanHere = 0, nanThere = 0, infinite = 0
        for (a, b) in zip(ours.scalars, fixture.scalars) {
            if a.isNaN != b.isNaN { if a.isNaN { nanHere += 1 } else { nanThere += 1 } }
            else if (a.isInfinite || b.isInfinite) && a != b { infinite += 1 }
        }
        var parts: [String] = []
        if nanHere > 0 { parts.append("\(nanHere) NaN here where the fixture has a number") }
        if nanThere > 0 { parts.append("\(nanThere) NaN in the fixture where this reference has a number") }
        if infinite > 0 { parts.append("\(infinite) infinities that differ") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    static func compare<T: RefScalar>(_ f: Fixture, _ ours: [String: Tensor<T>], _ rtol: Double, _ atol: Double) throws -> [TensorComparison] {
        try f.outputs.map { name in
            func failed(_ why: String, _ shape: [Int] = []) -> TensorComparison {
                TensorComparison(name: name, shape: shape, maxAbsoluteError: .nan, maxRelativeError: .nan, errorToTolerance: .infinity,
                                 passed: false, problem: why)
            }
            let path = f.tensorPath("outputs", name)
            guard FileManager.default.fileExists(atPath: path) else { return failed("missing file \(path)") }
            guard let array = try? Npy.read(contentsOf: path), let expected = try? array.tensor(Double.self, name: path) else {
                return failed("unreadable or not float: \(path)")
            }
            try f.checkDtype(array, "outputs", name)
            guard let mine = ours[name]?.converted(to: Double.self) else { return failed("not an output of a train step", expected.shape) }
            guard mine.shape == expected.shape else {
                return failed("shape \(mine.shape) here, \(expected.shape) in the fixture", expected.shape)
            }
            let d = mine.maxDifference(expected)
            var ratio = 0.0, sawNaN = false
            for (a, b) in zip(mine.scalars, expected.scalars) {
                if a.isNaN || b.isNaN { sawNaN = true; continue }
                let error = abs(a - b), tolerance = atol + rtol * abs(b)
                ratio = max(ratio, error == 0 ? 0 : error.isNaN ? .infinity : error / tolerance)
            }
            if sawNaN { ratio = .nan }
            return TensorComparison(name: name, shape: expected.shape, maxAbsoluteError: d.absolute, maxRelativeError: d.relative,
                                    errorToTolerance: ratio, passed: mine.isClose(to: expected, rtol: rtol, atol: atol), problem: nil,
                                    nonFinite: nonFiniteMismatch(ours: mine, fixture: expected))
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
