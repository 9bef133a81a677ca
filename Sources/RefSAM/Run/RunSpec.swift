import RefSAMConfig
import RefSAMData
import RefSAMModels
import RefSAMTraining

/// Everything that defines a training run, resolved from a `Config` in one place:
/// the model, the data, the schedule, the step's hyperparameters, pruning, the dtype
/// and the device. `train`, `eval`, `golden` and `bench` all start from one, and
/// `initialState(_:from:firstBatch:)` (RunSpec+State.swift) turns it into the state
/// of step 0 or of a checkpoint.
public struct RunSpec: Sendable {
    /// The configuration this was built from (its values name the run directory and fill the log).
    public let config: Config
    /// The architecture and number of classes.
    public let model: Model
    /// The dataset, and so the image shape and classes.
    public let dataset: DatasetName
    /// `config.data_dir`: where to look for the dataset instead of the project's `data/`.
    public let dataDirectory: String?
    /// [H, W, C] of one image: the one source of image shapes (data must match it).
    public let imageShape: [Int]
    /// Examples per step.
    public let batchSize: Int
    /// Fraction of training labels replaced by another class.
    public let labelNoise: Double
    /// Seeds initialisation, pruning, shuffling, augmentation and label noise.
    public let seed: UInt64
    /// Passes over the training set.
    public let numEpochs: Int
    /// Steps between progress lines of the log.
    public let logEverySteps: Int
    /// Test batches per evaluation, or nil for the whole test set.
    public let evaluationBatches: Int?
    /// The learning-rate schedule.
    public let scheduleKind: ScheduleKind
    /// The schedule's base rate.
    public let baseLearningRate: Double
    /// Warm-up steps of `imagenet_cosine`.
    public let warmupSteps: Int
    /// SGD or SAM.
    public let optimizer: Optimizer
    /// SAM's radius.
    public let rho: Double
    /// optax.sgd momentum.
    public let momentum: Double
    /// Added to the gradient: g + weightDecay * params.
    public let weightDecay: Double
    /// m-sharpness shards per batch (see `StepHyperparameters.samShards`).
    public let samShards: Int
    /// How kernel weights are scored for pruning.
    public let pruner: Pruner
    /// Fraction of kernel weights pruned at initialisation.
    public let sparsity: Double
    /// Float or Double.
    public let dtype: DType
    /// Where the run computes.
    public let device: Device
    /// Resume from the newest checkpoint of the run directory.
    public let restoreCheckpoint: Bool
    /// The original's stream: the batch that scores the pruning mask is consumed, so
    /// update s trains on stream batch s + 1 (ref-run's default trains from batch 0).
    public let consumeMaskBatch: Bool
    /// The original's "Best test acc" after a resume: only epochs of this process count.
    public let bestSinceResume: Bool

    /// Resolves `config` (already validated by `Config.load`).
    public init(config: Config) {
        self.config = config
        dataset = config.dataset
        imageShape = config.dataset.imageShape
        let architecture: Model.Architecture
        switch config.model {
        case .mlp: architecture = .mlp(numNeurons: config.numNeurons)
        case .resNet18: architecture = .resNet18(numFilters: config.numFilters)
        case .resNet50ImageNet: architecture = .resNet50ImageNet(numFilters: config.numFilters)
        }
        model = Model(architecture, numClasses: config.dataset.numClasses)
        dataDirectory = config.dataDir
        batchSize = config.batchSize
        labelNoise = config.labelNoise
        seed = UInt64(config.seed)
        numEpochs = config.numEpochs
        logEverySteps = config.logEverySteps
        evaluationBatches = config.stepsPerEval > 0 ? config.stepsPerEval : nil
        scheduleKind = config.lrScheduler
        baseLearningRate = config.learningRate
        warmupSteps = config.warmupSteps
        optimizer = config.optimizer
        rho = config.rho
        momentum = config.momentum
        weightDecay = config.weightDecay
        samShards = config.samShards
        pruner = config.pruner
        sparsity = config.sparsity
        dtype = config.dtype
        device = config.device
        restoreCheckpoint = config.restoreCheckpoint
        consumeMaskBatch = config.consumeMaskBatch
        bestSinceResume = config.bestSinceResume
    }

    /// The original's run directory below a workdir (see `Config.runDirectorySuffix`).
    public var runDirectorySuffix: String { config.runDirectorySuffix }

    /// The learning-rate schedule for epochs of `stepsPerEpoch` updates.
    public func schedule(stepsPerEpoch: Int) -> LearningRateSchedule {
        LearningRateSchedule(kind: scheduleKind, baseLearningRate: baseLearningRate, numEpochs: numEpochs,
                             stepsPerEpoch: max(1, stepsPerEpoch), warmupSteps: warmupSteps)
    }

    /// The hyperparameters of an update on a batch of `batchCount` examples at `learningRate`.
    /// A partial last batch that the shards do not divide runs as one shard.
    public func hyperparameters(learningRate: Double, batchCount: Int) -> StepHyperparameters {
        StepHyperparameters(optimizer: optimizer, rho: rho, learningRate: learningRate, momentum: momentum,
                            weightDecay: weightDecay, samShards: batchCount % samShards == 0 ? samShards : 1)
    }
}
