/// The closed sets of values a configuration chooses from. Each raw value is the
/// spelling the original's config files use, so `init(rawValue:)` reads a config
/// value and `rawValue` writes one back.

/// The architecture named by `config.model`.
public enum ModelName: String, Sendable, CaseIterable {
    case mlp = "MLP"
    case resNet18 = "ResNet18"
    case resNet50ImageNet = "ResNet50_ImageNet"
}

/// The dataset named by `config.dataset` (a `tensorflow_datasets` name in the original).
public enum DatasetName: String, Sendable, CaseIterable {
    case mnist
    case cifar10
    case imagenet2012

    /// The number of classes.
    public var numClasses: Int { self == .imagenet2012 ? 1000 : 10 }

    /// The shape [H, W, C] of one image as the models see it: the one source of
    /// image shapes (a loaded dataset must match it).
    public var imageShape: [Int] {
        switch self {
        case .mnist: return [28, 28, 1]
        case .cifar10: return [32, 32, 3]
        case .imagenet2012: return [224, 224, 3]
        }
    }
}

/// The update rule named by `config.optimizer`.
public enum Optimizer: String, Sendable, CaseIterable {
    /// SGD with momentum on the gradient at the parameters.
    case sgd
    /// SGD with momentum on the gradient at SAM's ascent point.
    case sam
}

/// How pruning scores kernel weights (`config.pruner`); see `Pruning` for the rule.
public enum Pruner: String, Sendable, CaseIterable {
    /// Gaussian scores, one threshold per layer.
    case random
    /// |w * dL/dw| on one training batch, one global threshold.
    case snip
    /// |w|, one global threshold.
    case magnitude
}

/// The learning-rate schedule named by `config.lr_scheduler`.
public enum ScheduleKind: String, Sendable, CaseIterable {
    /// x0.1 at 50% and 75% of training.
    case step
    /// x0.1 at 25%, 50% and 75%.
    case stepMNIST = "step_mnist"
    /// Linear warm-up over `warmup_steps`, then cosine to 0 at the end of training
    /// (the original's `imagenet_cosine`, from vit_jax).
    case imagenetCosine = "imagenet_cosine"
}

/// The floating-point type a run computes in (`config.dtype`).
public enum DType: String, Sendable, CaseIterable {
    case float32
    case float64
}

/// Where a run computes (`config.device`). Only the CPU exists in this build.
public enum Device: String, Sendable, CaseIterable {
    case cpu
}
