import Foundation

/// A training configuration: the original's keys, plus a few of this reference's
/// (`label_noise`, `sam_shards`, `data_dir`, `dtype`, `device`). Built from a config
/// file and `--config.KEY=VALUE` overrides.
///
/// Every value is checked when it is set: its type, and for the keys that choose from
/// a closed set (`model`, `dataset`, `optimizer`, ...) its spelling, so the typed
/// properties below always hold a valid choice. Ranges and relations between keys are
/// checked by `validate()`. Every error names the key and the file and line (or the
/// override) that set it.
///
/// A config file must set the keys the original's training code reads (`requiredKeys`);
/// without a file (`load(file: nil)`) the base is the original's MNIST settings
/// (`configs/mnist_mlp.py`), which is what `Config()` holds.
public struct Config: Equatable, Sendable {
    /// The type a key's value must have.
    public enum Kind: Sendable { case string, int, number, bool, intList, optionalString }

    /// One accepted key: its type, its value in `Config()`, and a line of help.
    public struct Key: Sendable {
        /// The key as config files spell it (`num_neurons`).
        public let name: String
        /// The type its value must have.
        public let kind: Kind
        /// The value in `Config()` (the original's MNIST settings).
        public let defaultValue: PythonLiteral
        /// One line for `ref-run help train`.
        public let help: String
    }

    /// Every accepted key, in the order logs list them.
    public static let schema: [Key] = [
        Key(name: "model", kind: .string, defaultValue: .string("MLP"), help: "MLP, ResNet18 or ResNet50_ImageNet"),
        Key(name: "dataset", kind: .string, defaultValue: .string("mnist"), help: "mnist, cifar10 or imagenet2012"),
        Key(name: "lr_scheduler", kind: .string, defaultValue: .string("step_mnist"), help: "step, step_mnist or imagenet_cosine"),
        Key(name: "learning_rate", kind: .number, defaultValue: .float(0.1), help: "base learning rate"),
        Key(name: "momentum", kind: .number, defaultValue: .float(0.9), help: "SGD momentum (optax.sgd trace)"),
        Key(name: "batch_size", kind: .int, defaultValue: .int(128), help: "examples per step"),
        Key(name: "weight_decay", kind: .number, defaultValue: .float(0.0001), help: "added to the gradient: g + wd * params"),
        Key(name: "num_epochs", kind: .int, defaultValue: .int(100), help: "passes over the training set"),
        Key(name: "log_every_steps", kind: .int, defaultValue: .int(100), help: "steps between 'Epoch[e] Step [s/n]' lines"),
        Key(name: "cache", kind: .bool, defaultValue: .bool(false), help: "accepted and ignored (the original's tf.data cache)"),
        Key(name: "half_precision", kind: .bool, defaultValue: .bool(false), help: "accepted and ignored"),
        Key(name: "optimizer", kind: .string, defaultValue: .string("sam"), help: "sam or sgd"),
        Key(name: "rho", kind: .number, defaultValue: .float(0.05), help: "SAM radius (> 0 with sam)"),
        Key(name: "seed", kind: .int, defaultValue: .int(1), help: "seeds initialisation, pruning, shuffling, augmentation, label noise"),
        Key(name: "pruner", kind: .string, defaultValue: .string("random"), help: "random, snip or magnitude"),
        Key(name: "sparsity", kind: .number, defaultValue: .float(0.0), help: "fraction of kernel weights pruned at initialisation, in [0, 1]"),
        Key(name: "num_neurons", kind: .intList, defaultValue: .list([.int(300), .int(100)]), help: "MLP hidden widths"),
        Key(name: "num_filters", kind: .int, defaultValue: .int(64), help: "ResNet width"),
        Key(name: "warmup_steps", kind: .int, defaultValue: .int(0), help: "imagenet_cosine warm-up steps"),
        Key(name: "restore_checkpoint", kind: .bool, defaultValue: .bool(false), help: "resume from the newest checkpoint in the workdir"),
        Key(name: "num_train_steps", kind: .int, defaultValue: .int(-1), help: "accepted and ignored (training length is num_epochs)"),
        Key(name: "steps_per_eval", kind: .int, defaultValue: .int(-1), help: "-1: the whole test set; otherwise that many test batches"),
        Key(name: "label_noise", kind: .number, defaultValue: .float(0.0), help: "fraction of training labels replaced by another class"),
        Key(name: "sam_shards", kind: .int, defaultValue: .int(1),
            help: "m-sharpness: equal shards with their own SAM perturbation (a last partial batch they do not divide runs as one)"),
        Key(name: "data_dir", kind: .optionalString, defaultValue: .none, help: "dataset directory (default: data/<dataset> in the project)"),
        Key(name: "consume_mask_batch", kind: .bool, defaultValue: .bool(false),
            help: "True: as the original, the pruning-mask batch is the training stream's first, so training starts at its second"),
        Key(name: "best_since_resume", kind: .bool, defaultValue: .bool(false),
            help: "True: as the original, 'Best test acc' after a resume counts only this run's epochs (False: every epoch)"),
        Key(name: "dtype", kind: .string, defaultValue: .string("float32"), help: "float32 or float64"),
        Key(name: "device", kind: .string, defaultValue: .string("cpu"), help: "cpu (the only device of this build)"),
    ]

    /// Keys accepted for compatibility whose value this reference does not use.
    public static let ignoredKeys: Set<String> = ["cache", "half_precision", "num_train_steps"]

    /// Keys a config file must set: those the original's training code reads
    /// unconditionally. `requiredKeys(for:)` adds the keys the chosen model,
    /// optimizer and schedule read.
    public static let requiredKeys = ["model", "dataset", "lr_scheduler", "learning_rate", "momentum", "batch_size", "weight_decay",
                                      "num_epochs", "log_every_steps", "optimizer", "seed", "pruner", "sparsity"]

    // MARK: Values

    /// The value of every key, as written (so paths spell numbers as Python's str() does).
    public private(set) var values: [String: PythonLiteral]
    /// Keys the file or an override set, in order of first appearance.
    public private(set) var setKeys: [String] = []
    /// Where each set key was last set: the file (or `--config.KEY=VALUE`) and line.
    public private(set) var origins: [String: Origin] = [:]

    /// Where a value came from, for error messages.
    public struct Origin: Equatable, Sendable {
        /// The config file, or `--config.KEY=VALUE` for an override.
        public var file: String?
        /// The line in the file, when it came from one.
        public var line: Int?
    }

    // MARK: Typed values (always consistent with `values`)

    /// `config.model`.
    public private(set) var model: ModelName = .mlp
    /// `config.dataset`.
    public private(set) var dataset: DatasetName = .mnist
    /// `config.lr_scheduler`.
    public private(set) var lrScheduler: ScheduleKind = .stepMNIST
    /// `config.optimizer`.
    public private(set) var optimizer: Optimizer = .sam
    /// `config.pruner`.
    public private(set) var pruner: Pruner = .random
    /// `config.dtype`.
    public private(set) var dtype: DType = .float32
    /// `config.device`.
    public private(set) var device: Device = .cpu

    /// The original's MNIST settings (`configs/mnist_mlp.py`) and this reference's defaults.
    public init() {
        values = Dictionary(uniqueKeysWithValues: Self.schema.map { ($0.name, $0.defaultValue) })
    }

    static func key(_ name: String) -> Key? { schema.first { $0.name == name } }

    /// Sets `key` from a file assignment or an override (the literal's own type is kept if it fits).
    public mutating func set(_ key: String, _ value: PythonLiteral, file: String? = nil, line: Int? = nil) throws {
        guard let spec = Self.key(key) else {
            let close = Self.schema.map(\.name).filter { $0.hasPrefix(String(key.prefix(3))) }
            throw ConfigError(file: file, line: line, key: key,
                              message: "unknown key" + (close.isEmpty ? "" : " (did you mean \(close.joined(separator: ", "))?)"))
        }
        func fail(_ message: String) -> ConfigError { ConfigError(file: file, line: line, key: key, message: message) }
        switch (spec.kind, value) {
        case (.string, .string), (.int, .int), (.number, .int), (.number, .float), (.bool, .bool),
             (.optionalString, .string), (.optionalString, .none):
            break
        case (.intList, .list(let items)):
            guard items.allSatisfy({ if case .int = $0 { return true } else { return false } }) else {
                throw fail("expected \(Self.kindName(spec.kind)), got \(value.typeName) \(value.repr)")
            }
        default:
            throw fail("expected \(Self.kindName(spec.kind)), got \(value.typeName) \(value.repr)")
        }
        func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
            guard case let .string(s) = value, let e = E(rawValue: s) else {
                throw fail("unknown value \(value.repr) (one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return e
        }
        switch key {
        case "model": model = try choice(ModelName.self)
        case "dataset": dataset = try choice(DatasetName.self)
        case "lr_scheduler": lrScheduler = try choice(ScheduleKind.self)
        case "optimizer": optimizer = try choice(Optimizer.self)
        case "pruner": pruner = try choice(Pruner.self)
        case "dtype": dtype = try choice(DType.self)
        case "device": device = try choice(Device.self)
        default: break
        }
        values[key] = value
        origins[key] = Origin(file: file, line: line)
        if !setKeys.contains(key) { setKeys.append(key) }
    }

    /// Applies `--config.KEY=TEXT` as ml_collections does: the text is read as a literal
    /// of the key's type; a string key takes the text itself unless it is quoted.
    public mutating func override(_ key: String, text: String) throws {
        let source = "--config.\(key)=\(text)"
        guard let spec = Self.key(key) else { return try set(key, .string(text), file: source) }   // reports the unknown key
        var parser = LiteralParser(text)
        let parsed = try? parser.parse()
        let complete = parsed != nil && parser.atEnd
        switch spec.kind {
        case .string, .optionalString:
            if complete, let p = parsed, case .string = p { try set(key, p, file: source) }
            else if spec.kind == .optionalString && text == "None" { try set(key, .none, file: source) }
            else { try set(key, .string(text), file: source) }
        case .number:
            // Like ml_collections on a float field: an int override becomes a float.
            guard complete, let p = parsed else { throw ConfigError(file: source, line: nil, key: key, message: "'\(text)' is not a number") }
            if case let .int(i) = p, case .float = values[key]! { try set(key, .float(Double(i)), file: source) } else { try set(key, p, file: source) }
        default:
            guard complete, let p = parsed else {
                throw ConfigError(file: source, line: nil, key: key, message: "'\(text)' is not a valid \(Self.kindName(spec.kind))")
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

    /// Reads a config file (or starts from `Config()` when `file` is nil), applies the
    /// overrides in order, checks that a file set every required key, then validates.
    public static func load(file: String?, overrides: [(String, String)] = []) throws -> Config {
        try load(assignments: file.map { try ConfigFile.read($0) } ?? [], file: file, overrides: overrides)
    }

    /// `load(file:overrides:)` on the text of a config file named `file`.
    public static func load(text: String, file: String, overrides: [(String, String)] = []) throws -> Config {
        try load(assignments: ConfigFile.parse(text, file: file), file: file, overrides: overrides)
    }

    static func load(assignments: [ConfigFile.Assignment], file: String?, overrides: [(String, String)]) throws -> Config {
        var c = Config()
        for a in assignments { try c.set(a.key, a.value, file: file, line: a.line) }
        for (k, v) in overrides { try c.override(k, text: v) }
        if let file {
            let missing = c.requiredKeys.filter { !c.setKeys.contains($0) }
            if !missing.isEmpty {
                throw ConfigError(file: file, line: nil, key: missing[0],
                                  message: "is required and not set (missing: \(missing.joined(separator: ", "))); "
                                      + "the original's configs set each of them, e.g. configs/mnist_mlp.py")
            }
        }
        try c.validate()
        return c
    }

    /// The keys a file must set for this configuration's model, optimizer and schedule.
    public var requiredKeys: [String] {
        var keys = Self.requiredKeys
        keys.append(model == .mlp ? "num_neurons" : "num_filters")
        if optimizer == .sam { keys.append("rho") }
        if lrScheduler == .imagenetCosine { keys.append("warmup_steps") }
        return keys
    }

    // MARK: Typed access to the other keys

    func int(_ k: String) -> Int { if case let .int(i) = values[k]! { return i }; preconditionFailure("config.\(k) is not an int") }
    func number(_ k: String) -> Double {
        switch values[k]! {
        case let .int(i): return Double(i)
        case let .float(d): return d
        default: preconditionFailure("config.\(k) is not a number")
        }
    }
    func bool(_ k: String) -> Bool { if case let .bool(b) = values[k]! { return b }; preconditionFailure("config.\(k) is not a bool") }

    /// `config.learning_rate`: the schedule's base rate.
    public var learningRate: Double { number("learning_rate") }
    /// `config.momentum` of optax.sgd.
    public var momentum: Double { number("momentum") }
    /// `config.batch_size`.
    public var batchSize: Int { int("batch_size") }
    /// `config.weight_decay`, added to the gradient.
    public var weightDecay: Double { number("weight_decay") }
    /// `config.num_epochs`.
    public var numEpochs: Int { int("num_epochs") }
    /// `config.log_every_steps`.
    public var logEverySteps: Int { int("log_every_steps") }
    /// `config.rho`: SAM's radius.
    public var rho: Double { number("rho") }
    /// `config.seed`.
    public var seed: Int { int("seed") }
    /// `config.sparsity`: the fraction of kernel weights pruned.
    public var sparsity: Double { number("sparsity") }
    /// MLP hidden widths (`config.num_neurons`).
    public var numNeurons: [Int] {
        guard case let .list(items) = values["num_neurons"]! else { preconditionFailure("config.num_neurons is not a list") }
        return items.map { if case let .int(i) = $0 { return i }; preconditionFailure("config.num_neurons holds a non-int") }
    }
    /// `config.num_filters`: ResNet width.
    public var numFilters: Int { int("num_filters") }
    /// `config.warmup_steps` of `imagenet_cosine`.
    public var warmupSteps: Int { int("warmup_steps") }
    /// `config.restore_checkpoint`.
    public var restoreCheckpoint: Bool { bool("restore_checkpoint") }
    /// `config.consume_mask_batch`.
    public var consumeMaskBatch: Bool { bool("consume_mask_batch") }
    /// `config.best_since_resume`.
    public var bestSinceResume: Bool { bool("best_since_resume") }
    /// `config.steps_per_eval` (-1: the whole test set).
    public var stepsPerEval: Int { int("steps_per_eval") }
    /// `config.label_noise`.
    public var labelNoise: Double { number("label_noise") }
    /// `config.sam_shards`.
    public var samShards: Int { int("sam_shards") }
    /// `config.data_dir`, or nil for the project's `data/`.
    public var dataDir: String? { if case let .string(s) = values["data_dir"]! { return s }; return nil }

    /// The original's output directory below the workdir:
    /// dataset_D/optimizer_O/model_M/lr_L/wd_W/rho_R/pruner_P/sparsity_S/seed_N, numbers as Python's str().
    public var runDirectorySuffix: String {
        ["dataset_" + dataset.rawValue, "optimizer_" + optimizer.rawValue, "model_" + model.rawValue,
         "lr_" + values["learning_rate"]!.description, "wd_" + values["weight_decay"]!.description,
         "rho_" + values["rho"]!.description, "pruner_" + pruner.rawValue,
         "sparsity_" + values["sparsity"]!.description, "seed_" + values["seed"]!.description].joined(separator: "/")
    }
}
