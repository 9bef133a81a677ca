/// Compares a tape's gradients with central differences, in Double.
///
///     numeric[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
///
/// An element passes when |analytic - numeric| <= atol + rtol * |numeric|; the
/// defaults are those of `torch.autograd.gradcheck` (eps 1e-6, atol 1e-5, rtol 1e-3).
/// Central differences have truncation error O(eps^2 f''') and rounding error
/// O(ulp(f) / eps), about 1e-10 for f of order 1: far inside these tolerances.
public enum GradientCheck {
    /// The outcome of one check: the worst errors found and the first failures.
    public struct Report: CustomStringConvertible {
        /// Largest |analytic - numeric| over every element of every input.
        public var worstAbsoluteError = 0.0
        /// Largest |analytic - numeric| / max(|analytic|, |numeric|, atol).
        public var worstRelativeError = 0.0
        /// Descriptions of the first failing elements (empty when the check passed).
        public var failures: [String] = []
        /// How many input elements were perturbed and compared.
        public var checkedElements = 0
        /// True when no element exceeded the tolerance.
        public var passed: Bool { failures.isEmpty }
        /// One line: passed or failed, elements checked, worst errors.
        public var description: String {
            "gradcheck \(passed ? "passed" : "FAILED") over \(checkedElements) elements: worst abs \(worstAbsoluteError), worst rel \(worstRelativeError)"
                + (failures.isEmpty ? "" : "; " + failures.prefix(3).joined(separator: "; "))
        }
    }

    /// Checks d f / d inputs, where `f` records a scalar function of the inputs on a
    /// fresh tape (it is called once for the analytic gradient and twice per element).
    public static func check(inputs: [Tensor<Double>], eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                             _ f: (Tape<Double>, [Variable]) throws -> Variable) throws -> Report {
        func evaluate(_ xs: [Tensor<Double>]) throws -> Double {
            let tape = Tape<Double>()
            let vars = xs.map { tape.leaf($0) }
            return try tape.value(f(tape, vars)).scalar
        }
        let tape = Tape<Double>()
        let vars = inputs.map { tape.leaf($0) }
        let analytic = try tape.gradients(of: f(tape, vars), withRespectTo: vars)

        var report = Report()
        var xs = inputs
        for (k, input) in inputs.enumerated() {
            for i in 0..<input.count {
                let original = xs[k].scalars[i]
                xs[k].scalars[i] = original + eps
                let plus = try evaluate(xs)
                xs[k].scalars[i] = original - eps
                let minus = try evaluate(xs)
                xs[k].scalars[i] = original
                let numeric = (plus - minus) / (2 * eps)
                let a = analytic[k].scalars[i]
                let err = abs(a - numeric)
                report.checkedElements += 1
                report.worstAbsoluteError = max(report.worstAbsoluteError, err)
                report.worstRelativeError = max(report.worstRelativeError, err / max(abs(a), abs(numeric), atol))
                if !(err <= atol + rtol * abs(numeric)) && report.failures.count < 10 {
                    report.failures.append("input \(k) element \(i): analytic \(a), numeric \(numeric)")
                }
            }
        }
        return report
    }
}
