import Foundation
import RefSAMConfig
import RefSAMModels
import RefSAMParams
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
    /// Every element within its bound (atol + rtol * |fixture|, or `bound`).
    public var passed: Bool
    /// The absolute bound on max |ours - fixture| of a conditioned tolerance (nil: elementwise).
    public var bound: Double? = nil
    /// The float32 trials' spread behind `bound` (nil: elementwise).
    public var spread: Double? = nil
    /// Why it failed without a comparison (missing file, shape mismatch, unknown name).
    public var problem: String?
    /// Elements where one side is NaN or infinite and the other is not, described
    /// ("2 NaN here where the fixture is finite"); nil when there are none.
    public var nonFinite: String? = nil
}

/// Replays fixtures: this reference's step on a fixture's inputs, compared with its outputs.
public enum FixtureReplay {
    /// This reference's outputs for the fixture's inputs, in the order the step computes
    /// them: loss, logits, the first pass's gradients from the input side, SAM's
    /// gradients, the trace, the parameters, the BatchNorm statistics (within each, the
    /// model's own order, whatever order the fixture lists its inputs in). A bug shows
    /// first where it starts.
    /// With `inputsMovedBy`, every nonzero float input (image, parameters, trace,
    /// BatchNorm statistics; not masks) is first moved one ulp in a direction it draws.
    public static func compute<T: RefScalar>(_ f: Fixture, _: T.Type, inputsMovedBy rng: RandomGenerator? = nil) throws
        -> [(name: String, tensor: Tensor<T>)] {
        let (_, images, _, r) = try step(f, T.self, inputsMovedBy: rng)
        return try ordered(f.model, imageShape: Array(images.shape.dropFirst()), loss: r.loss, logits: r.logits,
                           gradsFirst: r.gradsFirst, grads: r.grads, trace: r.state.trace, params: r.state.params,
                           batchStats: r.state.batchStats)
    }

    /// The fixture's inputs and this reference's step on them; a step that cannot run on
    /// them makes the fixture malformed.
    static func step<T: RefScalar>(_ f: Fixture, _: T.Type, record: StepRecord<T>? = nil, inputsMovedBy rng: RandomGenerator? = nil) throws
        -> (state: TrainState<T>, images: Tensor<T>, labels: [Int32], result: StepResult<T>) {
        let (state, images, labels) = try f.loadInputs(T.self, movedBy: rng)
        do {
            return (state, images, labels, try TrainStep.run(f.model, state: state, images: images, labels: labels, f.step, record: record))
        } catch {
            throw FixtureError.malformed(path: f.directory, reason: "the step cannot run on these inputs: \(error)")
        }
    }

    /// A step's outputs named as in a fixture, in computation order (the model's own
    /// parameter order within each collection).
    static func ordered<T: RefScalar>(_ model: Model, imageShape: [Int], loss: T, logits: Tensor<T>, gradsFirst: TensorTree<T>,
                                      grads: TensorTree<T>, trace: TensorTree<T>, params: TensorTree<T>,
                                      batchStats: TensorTree<T>) throws -> [(name: String, tensor: Tensor<T>)] {
        let (p0, s0) = try model.initialize(seed: 0, imageShape: imageShape, T.self)
        var out: [(name: String, tensor: Tensor<T>)] = [("loss", Tensor(scalar: loss)), ("logits", logits)]
        for (collection, tree, paths) in [("grads_first", gradsFirst, p0.paths), ("grads", grads, p0.paths),
                                          ("trace", trace, p0.paths), ("params", params, p0.paths),
                                          ("batch_stats", batchStats, s0.paths)] {
            for p in paths { if let t = tree[p] { out.append((collection + "/" + p, t)) } }
        }
        return out
    }

    /// This reference's whole step on the fixture's inputs, in its dtype, written as a
    /// fixture in `out`: the same inputs, every output the step makes (whatever the
    /// fixture listed), and the intermediates of `StepRecord` under `intermediates/`.
    /// Returns the number of outputs and of intermediates written.
    @discardableResult
    public static func writeReference(of f: Fixture, to out: String) throws -> (outputs: Int, intermediates: Int) {
        func write<T: RefScalar>(_: T.Type) throws -> (Int, Int) {
            let record = StepRecord<T>()
            let (state, images, labels, r) = try step(f, T.self, record: record)
            let tensors = record.tensors
            let outputs = try FixtureWriter.write(to: out, model: f.model, step: f.step, state: state, images: images, labels: labels,
                                                  result: r, producer: "ref-run replay of \(f.directory) (\(f.producer))",
                                                  intermediates: tensors)
            return (outputs, tensors.count)
        }
        return f.dtype == .float64 ? try write(Double.self) : try write(Float.self)
    }

    /// Another backend's step (`float32`/`float64`: its step function in each type) on the
    /// fixture's inputs, written as a fixture in `out` (same inputs, every output), so
    /// this reference can verify it like any backend's (`ref-run verify --device cuda`).
    public static func writeStep(of f: Fixture, to out: String, producer: String,
                                 float32: StepFunction<Float>, float64: StepFunction<Double>) throws {
        func write<T: RefScalar>(_ step: StepFunction<T>) throws {
            let (state, images, labels) = try f.loadInputs(T.self)
            let r = try step(f.model, state, images, labels, f.step)
            try FixtureWriter.write(to: out, model: f.model, step: f.step, state: state, images: images, labels: labels,
                                    result: r, producer: producer)
        }
        if f.dtype == .float64 { try write(float64) } else { try write(float32) }
    }

    /// Replays `f` and compares every listed output, at `rtol`/`atol` per element when
    /// either is given, else at `Tolerance.default(for:)` (see `judge`). Results come in
    /// the order the step computes them (see `compute`); names that are not outputs of a
    /// step come last.
    public static func verify(_ f: Fixture, rtol: Double? = nil, atol: Double? = nil) throws -> [TensorComparison] {
        try judge(f, rtol: rtol, atol: atol).results
    }

    /// The fixture's outputs against this reference's step, with the tolerance used.
    static func judge(_ f: Fixture, rtol: Double?, atol: Double?) throws -> (tolerance: Tolerance, results: [TensorComparison]) {
        try judge(f, rtol: rtol, atol: atol, float64: { try compute(f, Double.self, inputsMovedBy: $0) },
                  float32: { try compute(f, Float.self, inputsMovedBy: $0) })
    }

    /// The fixture's outputs against a step (`float64`/`float32`: its outputs in that
    /// type, on the inputs as given for nil, moved by the generator otherwise), with the
    /// tolerance used: `Tolerance.resolve`'s elementwise one, comparing the step in the
    /// fixture's dtype, when `rtol`/`atol` are given or the fixture is float64; else the
    /// conditioned one, comparing the float64 step, computed once for bound and comparison.
    static func judge(_ f: Fixture, rtol: Double?, atol: Double?, nanMatchesNaN: Bool = false,
                      float64: (RandomGenerator?) throws -> [(name: String, tensor: Tensor<Double>)],
                      float32: (RandomGenerator?) throws -> [(name: String, tensor: Tensor<Float>)])
        throws -> (tolerance: Tolerance, results: [TensorComparison]) {
        if rtol == nil, atol == nil, f.dtype == .float32 {
            let exact = try float64(nil)
            let tolerance = try Tolerance.conditioned(exact: exact, step: float32)
            return (tolerance, try compare(f, exact, tolerance, nanMatchesNaN: nanMatchesNaN))
        }
        let tolerance = try Tolerance.resolve(f, rtol: rtol, atol: atol)
        return (tolerance, f.dtype == .float64 ? try compare(f, float64(nil), tolerance, nanMatchesNaN: nanMatchesNaN)
                                               : try compare(f, float32(nil), tolerance, nanMatchesNaN: nanMatchesNaN))
    }

    /// Each listed output against `ours`, in the order of `ours`. `nanMatchesNaN`: a NaN
    /// on both sides of an element counts as agreement (diagnose: a variant that yields
    /// the author's NaN explains it); verify never allows it.
    static func compare<T: RefScalar>(_ f: Fixture, _ ours: [(name: String, tensor: Tensor<T>)], _ tolerance: Tolerance,
                                      nanMatchesNaN: Bool = false) throws -> [TensorComparison] {
        let rank = Dictionary(ours.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let byName = Dictionary(ours.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let listed = f.outputs.enumerated().sorted {
            (rank[$0.element] ?? ours.count + $0.offset) < (rank[$1.element] ?? ours.count + $1.offset)
        }
        return try listed.map { _, name in
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
            guard let mine = byName[name]?.converted(to: Double.self) else { return failed("not an output of a train step", expected.shape) }
            guard mine.shape == expected.shape else {
                return failed("shape \(mine.shape) here, \(expected.shape) in the fixture", expected.shape)
            }
            guard let limits = tolerance.limits(name) else { return failed("no float32 trial produced this output", expected.shape) }
            let d = mine.maxDifference(expected)
            // One pass for the tolerance ratio and the NaN/infinity counts. An element passes
            // when |a - b| <= absolute + relative |b| (atol + rtol |b|, as `Tensor.isClose`
            // states, or the output's conditioned bound); NaN never does.
            var ratio = 0.0, sawNaN = false, nanHere = 0, nanThere = 0, infinities = 0
            for (a, b) in zip(mine.scalars, expected.scalars) {
                if a.isNaN || b.isNaN {
                    if nanMatchesNaN && a.isNaN && b.isNaN { continue }
                    sawNaN = true
                    if !b.isNaN { nanHere += 1 } else if !a.isNaN { nanThere += 1 }
                    continue
                }
                if (a.isInfinite || b.isInfinite) && a != b { infinities += 1 }
                let error = abs(a - b)
                ratio = max(ratio, error == 0 ? 0 : error.isNaN ? .infinity : error / (limits.absolute + limits.relative * abs(b)))
            }
            var nonFinite: [String] = []
            if nanHere > 0 { nonFinite.append("\(nanHere) NaN here where the fixture has a number") }
            if nanThere > 0 { nonFinite.append("\(nanThere) NaN in the fixture where this reference has a number") }
            if infinities > 0 { nonFinite.append("\(infinities) infinities that differ") }
            var result = TensorComparison(name: name, shape: expected.shape, maxAbsoluteError: d.absolute, maxRelativeError: d.relative,
                                          errorToTolerance: sawNaN ? .nan : ratio, passed: !sawNaN && ratio <= 1, problem: nil,
                                          nonFinite: nonFinite.isEmpty ? nil : nonFinite.joined(separator: ", "))
            if case let .conditioned(spread, _, _, _) = tolerance {
                result.bound = limits.absolute
                result.spread = spread[name]
            }
            return result
        }
    }
}

/// The result of replaying one fixture directory: what was compared, at which
/// tolerance, and how each output came out.
public struct ReplayOutcome: Sendable {
    /// The fixture replayed.
    public var fixture: Fixture
    /// The tolerance used.
    public var tolerance: Tolerance
    /// One comparison per output the fixture lists, in its order.
    public var results: [TensorComparison]
    /// The outputs that failed or could not be compared.
    public var failures: [TensorComparison] { results.filter { !$0.passed } }
    /// True when every output passed.
    public var passed: Bool { failures.isEmpty }
}

extension FixtureReplay {
    /// Loads the fixture in `directory`, replays it and compares every output at
    /// `rtol`/`atol` per element when either is given (the other then takes its
    /// dtype's elementwise default: 1e-9/1e-12 for float64, 1e-4/1e-6 for float32), else
    /// at `Tolerance.default(for:)` (see `judge`). Throws `FixtureError` when the fixture is malformed
    /// (it cannot be replayed at all).
    public static func replay(directory: String, rtol: Double? = nil, atol: Double? = nil) throws -> ReplayOutcome {
        let fixture = try Fixture.load(directory)
        let (tolerance, results) = try judge(fixture, rtol: rtol, atol: atol)
        return ReplayOutcome(fixture: fixture, tolerance: tolerance, results: results)
    }
}
