import Foundation
import RefTensor

/// A training configuration: the original's keys, plus a few of this reference's
/// (`label_noise`, `sam_shards`, `data_dir`, `dtype`). Built from a config file and
/// `--config.KEY=VALUE` overrides; every value is type-checked and validated before
/// any work starts, and errors name the key (and the file and line when known).
public struct Config: Equatable, Sendable {
    /// Every accepted key, its type and its default (the original MNIST settings).
    public enum Kind: Sendable { case string, int, number, bool, intList, optionalString }
    public static let schema: [(key: String, kind: Kind, default: PythonLiteral, help: String)] = [
        ("model", .string, .string("MLP"), "MLP, ResNet18 or ResNet50_ImageNet"),
        ("dataset", .string, .string("mnist"), "mnist, cifar10 or imagenet2012"),
        ("lr_scheduler", .string, .string("step_mnist"), "step, step_mnist or imagenet_cosine"),
        ("learning_rate", .number, .float(0.1), "base learning rate"),
        ("momentum", .number, .float(0.9), "SGD momentum (optax.sgd trace)"),
        ("batch_size", .int, .int(128), "examples per step"),
        ("weight_decay", .number, .float(0.0001), "added to the gradient: g + wd * params"),
        ("num_epochs", .int, .int(100), "passes over the training set"),
        ("log_every_steps", .int, .int(100), "steps between 'Epoch[e] Step [s/n]' lines"),
        ("cache", .bool, .bool(false), "accepted and ignored (the original's tf.data cache)"),
        ("half_precision", .bool, .bool(false), "accepted and ignored"),
        ("optimizer", .string, .string("sam"), "sam or sgd"),
        ("rho", .number, .float(0.05), "SAM radius (> 0 with sam)"),
        ("seed", .int, .int(1), "seeds initialisation, pruning, shuffling, augmentation, label noise"),
        ("pruner", .string, .string("random"), "random, snip or magnitude"),
        ("sparsity", .number, .float(0.0), "fraction of kernel weights pruned at initialisation, in [0, 1]"),
        ("num_neurons", .intList, .list([.int(300), .int(100)]), "MLP hidden widths"),
        ("num_filters", .int, .int(64), "ResNet width"),
        ("warmup_steps", .int, .int(0), "imagenet_cosine warm-up steps"),
        ("restore_checkpoint", .bool, .bool(false), "resume from the newest checkpoint in the workdir"),
        ("num_train_steps", .int, .int(-1), "accepted and ignored (training length is num_epochs)"),
        ("steps_per_eval", .int, .int(-1), "-1: the whole test set; otherwise that many test batches"),
        ("label_noise", .number, .float(0.0), "fraction of training labels replaced by another class"),
        ("sam_shards", .int, .int(1), "m-sharpness: equal shards with their own SAM perturbation (a last partial batch they do not divide runs as one)"),
        ("data_dir", .optionalString, .none, "dataset directory (default: data/<dataset> in the project)"),
        ("dtype", .string, .string("float32"), "float32 or float64"),
    ]
    /// Keys accepted for compatibility whose value this reference does not use.
    public static let ignoredKeys: Set<String> = ["cache", "half_precision", "num_train_steps"]

    /// The value of every key, as written (so paths spell numbers as Python's str() does).
    public private(set) var values: [String: PythonLiteral]
    /// Keys the file or an override set, in order of first appearance.
    public private(set) var setKeys: [String] = []

    public init() {
        values = Dictionary(uniqueKeysWithValues: Self.schema.map { ($0.key, $0.default) })
    }

    static func kind(_ key: String) -> Kind? { schema.first { $0.key == key }?.kind }

    /// Sets `key` from a file assignment (the literal's own type is kept if it fits).
    public mutating func set(_ key: String, _ value: PythonLiteral, file: String? = nil, line: Int? = nil) throws {
        guard let kind = Self.kind(key) else {
            let close = Self.schema.map(\.key).filter { $0.hasPrefix(String(key.prefix(3))) }
            throw ConfigError(file: file, line: line, key: key,
                              message: "unknown key" + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: ", "))?)"))
        }
        func wrong() -> ConfigError {
            ConfigError(file: file, line: line, key: key, message: "expected \(Self.kindName(kind)), got \(value.typeName) \(value.repr)")
        }
        switch (kind, value) {
        case (.string, .string), (.int, .int), (.number, .int), (.number, .float), (.bool, .bool),
             (.optionalString, .string), (.optionalString, .none):
            break
        case (.intList, .list(let items)):
            guard items.allSatisfy({ if case .int = $0 { return true } else { return false } }) else { throw wrong() }
        default:
            throw wrong()
        }
        values[key] = value
        if !setKeys.contains(key) { setKeys.append(key) }
    }

    /// Applies `--config.KEY=TEXT` as ml_collections does: the text is read as a literal
    /// of the key's type; a string key takes the text itself unless it is quoted.
    public mutating func override(_ key: String, text: String) throws {
        guard let kind = Self.kind(key) else { return try set(key, .string(text)) }   // reports the unknown key
        var parser = LiteralParser(text)
        let parsed = try? parser.parse()
        let complete = parsed != nil && parser.atEnd
        let source = "--config.\(key)=\(text)"
        switch kind {
        case .string, .optionalString:
            if complete, let p = parsed, case .string = p { try set(key, p, file: source) }
            else if kind == .optionalString && text == "None" { try set(key, .none, file: source) }
            else { try set(key, .string(text), file: source) }
        case .number:
            // Like ml_collections on a float field: an int override becomes a float.
            guard complete, let p = parsed else { throw ConfigError(file: source, line: nil, key: key, message: "'\(text)' is not a number") }
            if case let .int(i) = p, case .float = values[key]! { try set(key, .float(Double(i)), file: source) } else { try set(key, p, file: source) }
        default:
            guard complete, let p = parsed else {
                throw ConfigError(file: source, line: nil, key: key, message: "'\(text)' is not a valid \(Self.kindName(kind))")
            }
            try set(key, p, file: source)
        }
    }

    static func kindName(_ k: Kind) -> String {
        switch k {
        case .string: return "a string"
        case .int: return "an int"
        case .number: return "a number"
        case .bool: return "True or False"
        case .intList: return "a list of ints"
        case .optionalString: return "a string or None"
        }
    }

    /// Reads a config file and applies overrides, then validates.
    public static func load(file: String?, overrides: [(String, String)] = []) throws -> Config {
        var c = Config()
        if let file {
            for a in try ConfigFile.read(file) { try c.set(a.key, a.value, file: file, line: a.line) }
        }
        for (k, v) in overrides { try c.override(k, text: v) }
        try c.validate()
        return c
    }

    // MARK: Typed access

    func string(_ k: String) -> String { if case let .string(s) = values[k]! { return s }; return "" }
    func int(_ k: String) -> Int { if case let .int(i) = values[k]! { return i }; return 0 }
    func number(_ k: String) -> Double {
        switch values[k]! { case let .int(i): return Double(i); case let .float(d): return d; default: return 0 }
    }
    func bool(_ k: String) -> Bool { if case let .bool(b) = values[k]! { return b }; return false }

    public var modelName: String { string("model") }
    public var dataset: String { string("dataset") }
    public var lrScheduler: String { string("lr_scheduler") }
    public var learningRate: Double { number("learning_rate") }
    public var momentum: Double { number("momentum") }
    public var batchSize: Int { int("batch_size") }
    public var weightDecay: Double { number("weight_decay") }
    public var numEpochs: Int { int("num_epochs") }
    public var logEverySteps: Int { int("log_every_steps") }
    public var optimizer: Optimizer { Optimizer(rawValue: string("optimizer")) ?? .sam }
    public var rho: Double { number("rho") }
    public var seed: Int { int("seed") }
    public var pruner: Pruner { Pruner(rawValue: string("pruner")) ?? .random }
    public var sparsity: Double { number("sparsity") }
    public var numNeurons: [Int] {
        if case let .list(items) = values["num_neurons"]! { return items.compactMap { if case let .int(i) = $0 { return i }; return nil } }
        return []
    }
    public var numFilters: Int { int("num_filters") }
    public var warmupSteps: Int { int("warmup_steps") }
    public var restoreCheckpoint: Bool { bool("restore_checkpoint") }
    public var stepsPerEval: Int { int("steps_per_eval") }
    public var labelNoise: Double { number("label_noise") }
    public var samShards: Int { int("sam_shards") }
    public var dataDir: String? { if case let .string(s) = values["data_dir"]! { return s }; return nil }
    public var dtype: String { string("dtype") }
    public var schedule: LearningRateSchedule.Kind { LearningRateSchedule.Kind(rawValue: lrScheduler) ?? .step }

    /// Classes and image shape [H, W, C] of the dataset.
    public var datasetShape: (classes: Int, image: [Int]) {
        switch dataset {
        case "cifar10": return (10, [32, 32, 3])
        case "imagenet2012": return (1000, [224, 224, 3])
        default: return (10, [28, 28, 1])
        }
    }

    /// The model this config describes.
    public var model: Model {
        let classes = datasetShape.classes
        switch modelName {
        case "ResNet18": return Model(.resNet18(numFilters: numFilters), numClasses: classes)
        case "ResNet50_ImageNet": return Model(.resNet50ImageNet(numFilters: numFilters), numClasses: classes)
        default: return Model(.mlp(numNeurons: numNeurons), numClasses: classes)
        }
    }

    /// Stops impossible values before any work, naming the key.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> ConfigError { ConfigError(file: nil, line: nil, key: key, message: why) }
        func oneOf(_ key: String, _ allowed: [String]) throws {
            let v = string(key)
            guard allowed.contains(v) else { throw bad(key, "unknown value '\(v)' (one of: \(allowed.joined(separator: ", ")))") }
        }
        try oneOf("model", ["MLP", "ResNet18", "ResNet50_ImageNet"])
        try oneOf("dataset", ["mnist", "cifar10", "imagenet2012"])
        try oneOf("lr_scheduler", LearningRateSchedule.Kind.allCases.map(\.rawValue))
        try oneOf("optimizer", Optimizer.allCases.map(\.rawValue))
        try oneOf("pruner", Pruner.allCases.map(\.rawValue))
        try oneOf("dtype", ["float32", "float64"])
        if batchSize < 1 { throw bad("batch_size", "must be >= 1, got \(batchSize)") }
        if numEpochs < 1 { throw bad("num_epochs", "must be >= 1, got \(numEpochs)") }
        if logEverySteps < 1 { throw bad("log_every_steps", "must be >= 1, got \(logEverySteps)") }
        if !(learningRate >= 0) { throw bad("learning_rate", "must be >= 0, got \(learningRate)") }
        if !(momentum >= 0 && momentum < 1) { throw bad("momentum", "must be in [0, 1), got \(momentum)") }
        if !(weightDecay >= 0) { throw bad("weight_decay", "must be >= 0, got \(weightDecay)") }
        if optimizer == .sam && !(rho > 0) { throw bad("rho", "must be > 0 with optimizer sam, got \(rho)") }
        if !(sparsity >= 0 && sparsity <= 1) { throw bad("sparsity", "must be in [0, 1], got \(sparsity)") }
        if !(labelNoise >= 0 && labelNoise <= 1) { throw bad("label_noise", "must be in [0, 1], got \(labelNoise)") }
        if modelName == "MLP" && (numNeurons.isEmpty || numNeurons.contains { $0 < 1 }) {
            throw bad("num_neurons", "must be a non-empty list of positive widths, got \(values["num_neurons"]!)")
        }
        if modelName != "MLP" && numFilters < 1 { throw bad("num_filters", "must be >= 1, got \(numFilters)") }
        if warmupSteps < 0 { throw bad("warmup_steps", "must be >= 0, got \(warmupSteps)") }
        if samShards < 1 || batchSize % samShards != 0 {
            throw bad("sam_shards", "must be >= 1 and divide batch_size \(batchSize), got \(samShards)")
        }
        if stepsPerEval == 0 || stepsPerEval < -1 { throw bad("steps_per_eval", "must be -1 or >= 1, got \(stepsPerEval)") }
        if seed < 0 { throw bad("seed", "must be >= 0, got \(seed)") }
    }

    /// The original's output directory below the workdir:
    /// dataset_D/optimizer_O/model_M/lr_L/wd_W/rho_R/pruner_P/sparsity_S/seed_N, numbers as Python's str().
    public var runDirectorySuffix: String {
        ["dataset_" + dataset, "optimizer_" + string("optimizer"), "model_" + modelName,
         "lr_" + values["learning_rate"]!.description, "wd_" + values["weight_decay"]!.description,
         "rho_" + values["rho"]!.description, "pruner_" + string("pruner"),
         "sparsity_" + values["sparsity"]!.description, "seed_" + values["seed"]!.description].joined(separator: "/")
    }
}
