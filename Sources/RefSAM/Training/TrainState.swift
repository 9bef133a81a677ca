import RefSAMConfig
import RefSAMParams
import RefTensor

/// The hyperparameters of one update (the learning rate is the schedule's value for it).
public struct StepHyperparameters: Equatable, Sendable {
    /// SGD or SAM.
    public var optimizer: Optimizer
    /// SAM's radius (unused by SGD).
    public var rho: Double
    /// The rate of this update.
    public var learningRate: Double
    /// optax.sgd momentum.
    public var momentum: Double
    /// Added to the gradient at the unperturbed parameters.
    public var weightDecay: Double
    /// m-sharpness: the batch is split into this many equal shards, each with its own
    /// SAM perturbation and BatchNorm statistics (the original on several devices).
    public var samShards: Int

    /// Hyperparameters of one update.
    public init(optimizer: Optimizer, rho: Double, learningRate: Double, momentum: Double, weightDecay: Double, samShards: Int = 1) {
        self.optimizer = optimizer; self.rho = rho; self.learningRate = learningRate
        self.momentum = momentum; self.weightDecay = weightDecay; self.samShards = samShards
    }
}

/// Everything a training run carries from step to step.
public struct TrainState<T: RefScalar>: Equatable, Sendable {
    /// The parameters (pruned entries already zero).
    public var params: TensorTree<T>
    /// BatchNorm running statistics (`mean`, `var` per layer).
    public var batchStats: TensorTree<T>
    /// The SGD momentum buffer (optax's `trace`), one per parameter.
    public var trace: TensorTree<T>
    /// The pruning mask (0/1 per parameter; only kernels have zeros), or nil.
    public var mask: TensorTree<T>? { didSet { masks = TrainStep.masks(mask) } }
    /// Updates applied so far (optax's `count`).
    public var step: Int
    /// `mask` prepared for the passes of a step (see `Mask`), once per mask rather
    /// than once per step.
    public private(set) var masks: [String: Mask<T>]

    /// A state; `trace` defaults to zeros like `params`.
    public init(params: TensorTree<T>, batchStats: TensorTree<T>, trace: TensorTree<T>? = nil, mask: TensorTree<T>? = nil, step: Int = 0) {
        self.params = params; self.batchStats = batchStats
        self.trace = trace ?? params.zeros
        self.mask = mask; self.step = step
        masks = TrainStep.masks(mask)
    }

    /// Equal parameters, statistics, momentum, mask and step (`masks` follows from `mask`).
    public static func == (a: Self, b: Self) -> Bool {
        a.params == b.params && a.batchStats == b.batchStats && a.trace == b.trace && a.mask == b.mask && a.step == b.step
    }
}

/// What one step reports besides the new state.
public struct StepResult<T: RefScalar> {
    /// Mean cross-entropy of the first (unperturbed) pass.
    public var loss: T
    /// Logits of the first pass, [N, classes].
    public var logits: Tensor<T>
    /// Fraction of argmax(logits) == label (first pass).
    public var accuracy: Double
    /// Gradient of the loss at the step's parameters.
    public var gradsFirst: TensorTree<T>
    /// The gradient handed to the optimizer: SAM's (or SGD's), plus weight decay.
    public var grads: TensorTree<T>
    /// The state after the update.
    public var state: TrainState<T>

    /// A step's report, as another backend (the CUDA one) builds it.
    public init(loss: T, logits: Tensor<T>, accuracy: Double, gradsFirst: TensorTree<T>, grads: TensorTree<T>, state: TrainState<T>) {
        self.loss = loss; self.logits = logits; self.accuracy = accuracy
        self.gradsFirst = gradsFirst; self.grads = grads; self.state = state
    }
}

/// Loss, logits, gradients and BatchNorm statistics of one pass.
public struct Pass<T: RefScalar> {
    /// Mean cross-entropy of the batch.
    public var loss: T
    /// Logits [N, classes].
    public var logits: Tensor<T>
    /// Gradient of `loss` with respect to every parameter.
    public var grads: TensorTree<T>
    /// Running statistics after this pass (training mode).
    public var batchStats: TensorTree<T>
    /// The batch mean and variance each BatchNorm used (`ModelBuilder.batchMoments`).
    public var batchMoments = TensorTree<T>()
    /// The values each BatchNorm's moments were taken over (`ModelBuilder.batchCounts`).
    public var batchCounts: [String: Int] = [:]
}
