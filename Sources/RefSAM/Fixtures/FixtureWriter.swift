import Foundation
import RefSAMModels
import RefSAMParams
import RefSAMTraining
import RefTensor

/// Writes one train step as a fixture (docs/FIXTURES.md), in the state's dtype.
public enum FixtureWriter {
    /// Writes the step from `state` on (`images`, `labels`) with `h`, whose result is `r`, as a fixture in `directory`;
    /// `intermediates` (e.g. `StepRecord.tensors`) go to `intermediates/`, listed under that key, never compared.
    /// Returns the number of outputs written.
    @discardableResult
    public static func write<T: RefScalar>(to directory: String, model: Model, step h: StepHyperparameters,
                                           state: TrainState<T>, images: Tensor<T>, labels: [Int32],
                                           result r: StepResult<T>, producer: String,
                                           intermediates: [(name: String, tensor: Tensor<T>)] = []) throws -> Int {
        var inputs: [(String, Tensor<T>)] = [("image", images)]
        func add(_ list: inout [(String, Tensor<T>)], _ prefix: String, _ tree: TensorTree<T>) {
            for (p, t) in tree.entries { list.append((prefix + "/" + p, t)) }
        }
        add(&inputs, "params", state.params)
        add(&inputs, "batch_stats", state.batchStats)
        add(&inputs, "trace", state.trace)
        if let m = state.mask { add(&inputs, "mask", m) }
        var outputs: [(String, Tensor<T>)] = [("loss", Tensor(scalar: r.loss)), ("logits", r.logits)]
        add(&outputs, "grads_first", r.gradsFirst)
        add(&outputs, "grads", r.grads)
        add(&outputs, "params", r.state.params)
        add(&outputs, "trace", r.state.trace)
        add(&outputs, "batch_stats", r.state.batchStats)

        func file(_ kind: String, _ name: String) -> String {
            ((directory as NSString).appendingPathComponent(kind) as NSString).appendingPathComponent(name + ".npy")
        }
        for (name, t) in inputs { try Npy.write(t, to: file("inputs", name)) }
        try Npy.write(Npy.encode(int32s: labels, shape: [labels.count]), to: file("inputs", "label"))
        for (name, t) in outputs { try Npy.write(t, to: file("outputs", name)) }
        for (name, t) in intermediates { try Npy.write(t, to: file("intermediates", name)) }

        var modelJSON: [String: Any] = ["name": model.name.rawValue, "num_classes": model.numClasses]
        switch model.architecture {
        case let .mlp(n): modelJSON["num_neurons"] = n
        case let .resNet18(f), let .resNet50ImageNet(f): modelJSON["num_filters"] = f
        }
        var stepJSON: [String: Any] = ["optimizer": h.optimizer.rawValue, "rho": h.rho, "learning_rate": h.learningRate,
                                       "momentum": h.momentum, "weight_decay": h.weightDecay]
        if h.samShards != 1 { stepJSON["sam_shards"] = h.samShards }
        var meta: [String: Any] = [
            "format": Fixture.format, "kind": "train_step", "dtype": T.dtypeName,
            "model": modelJSON, "step": stepJSON, "producer": producer,
            "inputs": ["image", "label"] + inputs.dropFirst().map(\.0),
            "outputs": outputs.map(\.0),
        ]
        if !intermediates.isEmpty { meta["intermediates"] = intermediates.map(\.name) }
        let data = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("fixture.json")), options: .atomic)
        return outputs.count
    }
}
