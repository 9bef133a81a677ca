// One SAM step through RefSAM's public API, as a package that depends on this one
// would take it, with SAM's defining facts checked on the way:
//   - the ascent point is p + rho * g / (||g|| + 1e-12), so ||e|| = rho;
//   - the update uses the gradient at the ascent point plus weight decay;
//   - the momentum trace after one step from zero is that gradient.
// Run it with `swift run sam-step-example`; it exits 1 if a check fails.
import Foundation
import RefSAM

func check(_ ok: Bool, _ what: String) {
    print((ok ? "ok    " : "FAILED") + "  " + what)
    if !ok { exit(1) }
}

// The model, its parameters and a batch: a small MLP on 8 random 28x28 images.
let model = Model(.mlp(numNeurons: [32]), numClasses: 10)
let (params, batchStats) = try model.initialize(seed: 0, imageShape: [28, 28, 1], Double.self)
var rng = RandomGenerator(seed: 1)
let images: Tensor<Double> = rng.normalTensor([8, 28, 28, 1])
let labels: [Int32] = (0..<8).map { Int32($0 % 10) }

// One SAM step: rho 0.05, learning rate 0.1, momentum 0.9, weight decay 1e-4.
let h = StepHyperparameters(optimizer: .sam, rho: 0.05, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)
let state = TrainState(params: params, batchStats: batchStats)
let result = try TrainStep.run(model, state: state, images: images, labels: labels, h)
print("loss \(result.loss), accuracy \(result.accuracy), step \(result.state.step)")

// The same step by its parts: first gradient, ascent point, gradient there.
let first = try TrainStep.pass(model, params: params, batchStats: batchStats, mask: nil, images: images, labels: labels)
let ascent = try TrainStep.perturb(params, along: first.grads, rho: h.rho)
var e2 = 0.0
for (path, p) in params.entries {
    for (a, b) in zip(ascent[path]!.scalars, p.scalars) { e2 += (a - b) * (a - b) }
}
check(abs(e2.squareRoot() - h.rho) < 1e-12, "the perturbation has norm rho (\(e2.squareRoot()))")
let samGradient = try TrainStep.pass(model, params: ascent, batchStats: batchStats, mask: nil, images: images, labels: labels).grads

var worst = 0.0
for (path, g) in samGradient.entries {
    let p = params[path]!, trace = result.state.trace[path]!
    for i in 0..<g.count {
        let expected = g.scalars[i] + h.weightDecay * p.scalars[i]     // trace' = g + wd * p (trace started at zero)
        worst = max(worst, abs(trace.scalars[i] - expected))
    }
}
check(worst < 1e-12, "the update used the gradient at the ascent point plus weight decay (max diff \(worst))")

let after = try TrainStep.pass(model, params: result.state.params, batchStats: batchStats, mask: nil, images: images, labels: labels)
check(after.loss < result.loss, "the loss on the batch went down: \(result.loss) -> \(after.loss)")

// A training loop advances its state in place (`state: &state`): the same step, with the
// parameters and momentum updated where they lie when the loop holds the only copy.
var loopState = TrainState(params: params, batchStats: batchStats)
_ = try TrainStep.run(model, state: &loopState, images: images, labels: labels, h)
check(loopState == result.state, "the step that advances its state in place gives the same state")
