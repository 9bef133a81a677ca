import RefSAMData
import RefSAMModels
import RefTensor

/// A backend that keeps the training state where it computes (the CUDA backend's
/// `CUDATrainer`): steps and evaluations run there, and the state is copied back only
/// when asked (for checkpoints). Each step must be `TrainStep.run`'s, each evaluation
/// `Model.evaluate`'s.
public protocol ResidentTrainer<Scalar>: AnyObject {
    /// The element type of the state.
    associatedtype Scalar: RefScalar
    /// One step on a batch at `learningRate` (the other hyperparameters fixed when the
    /// trainer was made); returns the first pass's loss and accuracy.
    func step(images: Tensor<Scalar>, labels: [Int32], learningRate: Double) throws -> (loss: Scalar, accuracy: Double)
    /// The current state, copied back.
    func state() throws -> TrainState<Scalar>
    /// The batch shape ([N, H, W, C]) this trainer steps.
    var batchShape: [Int] { get }
    /// `Model.evaluate` of the current state where it lives: mean loss and accuracy over
    /// the pipeline's first `maxBatches` batches (running statistics, no masks).
    func evaluate(pipeline: DataPipeline<Scalar>, maxBatches: Int?) throws -> (loss: Double, accuracy: Double)
}

/// Makes a resident trainer for `model` from a state, for batches of `batchShape`, with
/// the hyperparameters of the first step.
public typealias ResidentTrainerFactory<T: RefScalar> =
    (_ model: Model, _ state: TrainState<T>, _ batchShape: [Int], _ h: StepHyperparameters) throws -> any ResidentTrainer<T>

/// One step from a state, as `TrainStep.run` takes it (the CPU reference by default; the
/// CUDA backend offers its own).
public typealias StepFunction<T: RefScalar> =
    (_ model: Model, _ state: TrainState<T>, _ images: Tensor<T>, _ labels: [Int32], _ h: StepHyperparameters) throws -> StepResult<T>
