extension Config {
    /// Stops impossible values before any work. The error names the key, what would be
    /// valid, and the file and line (or override) that set the value.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ why: @autoclosure () -> String) throws {
            guard !ok else { return }
            let origin = origins[key]
            throw ConfigError(file: origin?.file, line: origin?.line, key: key, message: why())
        }
        try check(batchSize >= 1 && batchSize <= 1 << 24, "batch_size", "must be in 1...\(1 << 24), got \(batchSize)")
        try check(numEpochs >= 1, "num_epochs", "must be >= 1, got \(numEpochs)")
        try check(logEverySteps >= 1, "log_every_steps", "must be >= 1, got \(logEverySteps)")
        try check(learningRate >= 0 && learningRate.isFinite, "learning_rate", "must be finite and >= 0, got \(learningRate)")
        try check(momentum >= 0 && momentum < 1, "momentum", "must be in [0, 1), got \(momentum)")
        try check(weightDecay >= 0 && weightDecay.isFinite, "weight_decay", "must be finite and >= 0, got \(weightDecay)")
        try check(optimizer != .sam || (rho > 0 && rho.isFinite), "rho", "must be finite and > 0 with optimizer sam, got \(rho)")
        try check(sparsity >= 0 && sparsity <= 1, "sparsity", "must be in [0, 1], got \(sparsity)")
        try check(labelNoise >= 0 && labelNoise <= 1, "label_noise", "must be in [0, 1], got \(labelNoise)")
        try check(model != .mlp || (!numNeurons.isEmpty && numNeurons.count <= 64 && !numNeurons.contains { $0 < 1 || $0 > 1 << 31 }),
                  "num_neurons", "must be a list of 1 to 64 widths in 1...\(1 << 31), got \(values["num_neurons"]!)")
        try check(model == .mlp || (numFilters >= 1 && numFilters <= 1 << 20), "num_filters", "must be in 1...\(1 << 20), got \(numFilters)")
        try check(warmupSteps >= 0, "warmup_steps", "must be >= 0, got \(warmupSteps)")
        try check(samShards >= 1 && batchSize % samShards == 0, "sam_shards",
                  "must be >= 1 and divide batch_size \(batchSize), got \(samShards)")
        try check(stepsPerEval == -1 || stepsPerEval >= 1, "steps_per_eval", "must be -1 or >= 1, got \(stepsPerEval)")
        try check(seed >= 0, "seed", "must be >= 0, got \(seed)")
    }
}
