/// Emulated float32 rounding of BatchNorm's sums, for judging float32 steps.
///
/// This reference accumulates BatchNorm's sums (the batch mean and variance; dbias and
/// dscale in the backward pass) in Double, so its float32 step is more accurate there
/// than a framework that sums in float32, and where those sums are ill-conditioned (a
/// channel whose variance is tiny beside its squared mean; dbias of a BatchNorm whose
/// output feeds another BatchNorm, which nearly cancels) a float32 framework's result
/// can differ from the exact one by far more than this reference's rounding shows.
/// While a `SummationNoise` is `current`, each per-channel sum `s = t_1 + ... + t_K`
/// gets an error drawn from a normal distribution of standard deviation
///
///     u * sqrt(S_1^2 + ... + S_K^2),   S_k = t_1 + ... + t_k,   u = 2^-24
///
/// the first-order error of a recursive float32 sum whose K additions each round with
/// an independent relative error of size u (the probabilistic model of Higham and
/// Mary). Blocked, vectorised and pairwise sums err less. The variance is perturbed
/// as the one-pass `E[x^2] - E[x]^2` (Flax's formula) rounds it: through the sum of
/// x^2. `Tolerance.conditioned` runs float32 trials with it set, so that the spread
/// they show includes what an independent float32 implementation may do.
/// Draws happen on the calling thread, in call order: a trial is deterministic.
public final class SummationNoise: @unchecked Sendable {
    /// The task-local value behind `current`: ops called within
    /// `scope.withValue(noise) { ... }` apply `noise`. (A plain `TaskLocal`, not the
    /// `@TaskLocal` macro, whose expansion the compiler writes under TMPDIR.)
    public static let scope = TaskLocal<SummationNoise?>(wrappedValue: nil)
    /// The noise the ops apply now (nil: none).
    public static var current: SummationNoise? { scope.get() }

    /// float32's unit roundoff.
    public static let unitRoundoff = 0x1p-24
    private var rng: RandomGenerator

    /// Noise drawn from a generator seeded with `seed`.
    public init(seed: UInt64) { rng = RandomGenerator(seed: seed).derived("summation-noise") }

    /// Adds to each `sums[j]` its drawn error (times `scale`: 1 / K for a mean), the
    /// sum being over `rows` of the terms `term(i, j)`, taken in row order.
    func addError(to sums: inout [Double], rows: Range<Int>, scale: Double = 1, _ term: (_ row: Int, _ channel: Int) -> Double) {
        let c = sums.count
        var partial = [Double](repeating: 0, count: c), squares = partial
        for i in rows {
            for j in 0..<c {
                partial[j] += term(i, j)
                squares[j] += partial[j] * partial[j]
            }
        }
        for j in 0..<c { sums[j] += rng.normal() * Self.unitRoundoff * squares[j].squareRoot() * scale }
    }
}
