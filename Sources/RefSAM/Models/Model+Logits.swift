import RefSAMParams
import RefTensor

extension Model {
    /// Logits in evaluation mode (BatchNorm uses the running statistics).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func logits<T: RefScalar>(params: TensorTree<T>, batchStats: TensorTree<T>, images: Tensor<T>) throws -> Tensor<T> {
        let tape = Tape<T>()
        var vars: [String: Variable] = [:]
        for (p, t) in params.entries { vars[p] = tape.leaf(t) }
        let b = ModelBuilder<T>(tape: tape, mode: .apply(params: vars, masks: [:]), batchStats: batchStats, train: false)
        return tape[try forward(b, tape.leaf(images))]
    }
}
