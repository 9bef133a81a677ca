import RefSAMConfig
import RefSAMParams
import RefTensor

/// The three architectures of the paper, with Flax's names and layouts
/// (docs/PARAM_TREES.md). `forward` is the whole definition: `initialize` runs it
/// in creation mode on a batch of ones, as Flax's `model.init` does.
public struct Model: Equatable, Sendable, CustomStringConvertible {
    /// The architecture and its width.
    public enum Architecture: Equatable, Sendable {
        /// Flatten, then Dense + ReLU per hidden width, then Dense to the classes.
        case mlp(numNeurons: [Int])
        /// CIFAR-stem ResNet18 with basic blocks.
        case resNet18(numFilters: Int)
        /// ImageNet ResNet50 with bottleneck blocks.
        case resNet50ImageNet(numFilters: Int)
    }

    /// Which network, and how wide.
    public var architecture: Architecture
    /// Outputs of the last Dense layer.
    public var numClasses: Int

    /// The model `architecture` with `numClasses` outputs.
    public init(_ architecture: Architecture, numClasses: Int) {
        self.architecture = architecture
        self.numClasses = numClasses
    }

    /// The config name (`MLP`, `ResNet18`, `ResNet50_ImageNet`).
    public var name: ModelName {
        switch architecture {
        case .mlp: return .mlp
        case .resNet18: return .resNet18
        case .resNet50ImageNet: return .resNet50ImageNet
        }
    }

    /// Whether BatchNorm's batch statistics span every shard of a batch under
    /// `sam_shards` (as the original's devices share them): true for ResNet50, whose
    /// BatchNorm has `axis_name='batch'`; false for ResNet18 (per-device statistics)
    /// and the MLP (no BatchNorm).
    public var batchNormSpansShards: Bool {
        if case .resNet50ImageNet = architecture { return true }
        return false
    }

    /// The name and width, e.g. `MLP(num_neurons: [300, 100], classes: 10)`.
    public var description: String {
        switch architecture {
        case let .mlp(n): return "MLP(num_neurons: \(n), classes: \(numClasses))"
        case let .resNet18(f): return "ResNet18(num_filters: \(f), classes: \(numClasses))"
        case let .resNet50ImageNet(f): return "ResNet50_ImageNet(num_filters: \(f), classes: \(numClasses))"
        }
    }

    /// The logits of `x` ([N, H, W, C]) as a variable on `b.tape`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    public func forward<T: RefScalar>(_ b: ModelBuilder<T>, _ x: Variable) throws -> Variable {
        switch architecture {
        case let .mlp(numNeurons):
            var h = try b.tape.flatten(x)
            for width in numNeurons { h = try b.tape.relu(b.dense(h, features: width)) }
            return try b.dense(h, features: numClasses)

        case let .resNet18(f):
            let pad1 = Padding.explicit(height: (1, 1), width: (1, 1))
            var h = try b.conv(x, features: f, kernel: (3, 3), padding: pad1, name: "conv_init")
            h = try b.tape.relu(b.batchNorm(h, name: "bn_init"))
            for (stage, blocks) in [2, 2, 2, 2].enumerated() {
                for j in 0..<blocks {
                    let strides = stage > 0 && j == 0 ? (2, 2) : (1, 1)
                    h = try basicBlock(b, h, filters: f << stage, strides: strides)
                }
            }
            h = try b.tape.avgPool(h, window: (4, 4), strides: (4, 4))
            return try b.dense(b.tape.flatten(h), features: numClasses)

        case let .resNet50ImageNet(f):
            var h = try b.conv(x, features: f, kernel: (7, 7), strides: (2, 2),
                               padding: .explicit(height: (3, 3), width: (3, 3)), name: "conv_init")
            h = try b.tape.relu(b.batchNorm(h, name: "bn_init"))
            h = try b.tape.maxPool(h, window: (3, 3), strides: (2, 2), padding: .same)
            for (stage, blocks) in [3, 4, 6, 3].enumerated() {
                for j in 0..<blocks {
                    let strides = stage > 0 && j == 0 ? (2, 2) : (1, 1)
                    h = try bottleneckBlock(b, h, filters: f << stage, strides: strides)
                }
            }
            return try b.dense(b.tape.mean(h, axes: [1, 2]), features: numClasses)
        }
    }

    /// ResNetBlock: conv3x3(stride) BN ReLU conv3x3 BN, plus the input or its 1x1
    /// projection when the shape changes or the stride is not 1; then ReLU.
    func basicBlock<T>(_ b: ModelBuilder<T>, _ x: Variable, filters: Int, strides: (Int, Int)) throws -> Variable {
        try b.module("ResNetBlock") {
            let pad1 = Padding.explicit(height: (1, 1), width: (1, 1))
            var y = try b.conv(x, features: filters, kernel: (3, 3), strides: strides, padding: pad1)
            y = try b.tape.relu(b.batchNorm(y))
            y = try b.conv(y, features: filters, kernel: (3, 3), padding: pad1)
            y = try b.batchNorm(y)
            var residual = x
            if b.tape[x].shape != b.tape[y].shape || strides != (1, 1) {
                residual = try b.conv(x, features: filters, kernel: (1, 1), strides: strides, padding: .valid, name: "conv_proj")
                residual = try b.batchNorm(residual, name: "norm_proj")
            }
            return try b.tape.relu(b.tape.add(residual, y))
        }
    }

    /// BottleneckResNetBlock: 1x1, 3x3(stride, SAME), 1x1 to 4*filters with the last
    /// BatchNorm's scale starting at 0; projection when the shape changes.
    func bottleneckBlock<T>(_ b: ModelBuilder<T>, _ x: Variable, filters: Int, strides: (Int, Int)) throws -> Variable {
        try b.module("BottleneckResNetBlock") {
            var y = try b.conv(x, features: filters, kernel: (1, 1))
            y = try b.tape.relu(b.batchNorm(y))
            y = try b.conv(y, features: filters, kernel: (3, 3), strides: strides)
            y = try b.tape.relu(b.batchNorm(y))
            y = try b.conv(y, features: 4 * filters, kernel: (1, 1))
            y = try b.batchNorm(y, scaleInit: 0)
            var residual = x
            if b.tape[x].shape != b.tape[y].shape {
                residual = try b.conv(x, features: 4 * filters, kernel: (1, 1), strides: strides, name: "conv_proj")
                residual = try b.batchNorm(residual, name: "norm_proj")
            }
            return try b.tape.relu(b.tape.add(residual, y))
        }
    }

    /// Parameters and running statistics for images of `imageShape` ([H, W, C]),
    /// drawn from `seed` (one Philox stream per parameter path).
    public func initialize<T: RefScalar>(seed: UInt64, imageShape: [Int], _: T.Type = T.self) throws
        -> (params: TensorTree<T>, batchStats: TensorTree<T>) {
        let tape = Tape<T>()
        let b = ModelBuilder<T>(tape: tape, mode: .initialize(RandomGenerator(seed: seed)), train: false)
        _ = try forward(b, tape.leaf(.ones([1] + imageShape)))
        return (b.createdParams, b.newBatchStats)
    }

    /// The number of trainable parameters (the paper's x-axis).
    public func parameterCount(imageShape: [Int]) throws -> Int {
        try initialize(seed: 0, imageShape: imageShape, Float.self).params.scalarCount
    }
}
