import Foundation
import XCTest
@testable import RefSAM

final class ConfigTests: XCTestCase {
    func path(_ name: String) -> String { Repo.config(name) }

    func write(_ text: String, name: String = "c.py") throws -> String {
        let p = try makeTemporaryDirectory("cfg") + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// The original's MNIST settings (issue text / original configs/mnist_mlp.py).
    func testMNISTConfigHasTheOriginalSettings() throws {
        let c = try Config.load(file: path("mnist_mlp.py"))
        XCTAssertEqual(c.model, .mlp); XCTAssertEqual(c.dataset, .mnist); XCTAssertEqual(c.lrScheduler, .stepMNIST)
        XCTAssertEqual(c.learningRate, 0.1); XCTAssertEqual(c.momentum, 0.9); XCTAssertEqual(c.batchSize, 128)
        XCTAssertEqual(c.weightDecay, 1e-4); XCTAssertEqual(c.numEpochs, 100); XCTAssertEqual(c.logEverySteps, 100)
        XCTAssertEqual(c.optimizer, .sam); XCTAssertEqual(c.rho, 0.05); XCTAssertEqual(c.seed, 1); XCTAssertEqual(c.pruner, .random)
        XCTAssertEqual(c.sparsity, 0); XCTAssertEqual(c.numNeurons, [300, 100]); XCTAssertFalse(c.restoreCheckpoint)
        XCTAssertEqual(c.runDirectorySuffix, "dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1")
    }

    func testCIFARAndImageNetConfigs() throws {
        let c = try Config.load(file: path("cifar10_resnet18.py"))
        XCTAssertEqual(c.model, .resNet18); XCTAssertEqual(c.dataset, .cifar10); XCTAssertEqual(c.lrScheduler, .step)
        XCTAssertEqual([c.numFilters, c.batchSize, c.numEpochs, c.seed], [64, 128, 200, 1])
        XCTAssertEqual([c.learningRate, c.momentum, c.weightDecay, c.rho, c.sparsity], [0.1, 0.9, 5e-4, 0.05, 0])
        let i = try Config.load(file: path("imagenet_resnet50.py"))
        XCTAssertEqual(i.model, .resNet50ImageNet); XCTAssertEqual(i.dataset, .imagenet2012); XCTAssertEqual(i.lrScheduler, .stepMNIST)
        XCTAssertEqual([i.numFilters, i.batchSize, i.numEpochs, i.warmupSteps], [64, 512, 90, 5000])
        XCTAssertEqual([i.learningRate, i.momentum, i.weightDecay, i.rho], [0.2, 0.9, 1e-4, 0.05])
        for small in ["mnist_mlp_small.py", "cifar10_resnet18_small.py", "imagenet_resnet50_small.py"] {
            XCTAssertNoThrow(try Config.load(file: path(small)), small)
        }
    }

    func testOverrides() throws {
        let c = try Config.load(file: path("mnist_mlp.py"), overrides: [("num_neurons", "[600,200]"), ("optimizer", "sgd"), ("rho", "0.1"),
                                                                      ("weight_decay", "1e-05"), ("learning_rate", "1")])
        XCTAssertEqual(c.numNeurons, [600, 200]); XCTAssertEqual(c.optimizer, .sgd); XCTAssertEqual(c.rho, 0.1)
        // ml_collections keeps a float field a float: 1 -> 1.0, and str(1e-05) is '1e-05'.
        XCTAssertEqual(c.runDirectorySuffix, "dataset_mnist/optimizer_sgd/model_MLP/lr_1.0/wd_1e-05/rho_0.1/pruner_random/sparsity_0.0/seed_1")
        XCTAssertThrowsError(try Config.load(file: path("mnist_mlp.py"), overrides: [("batch_size", "many")])) { e in
            XCTAssertTrue("\(e)".contains("batch_size"), "\(e)")
        }
    }

    /// Spellings checked against CPython 3.11's str().
    func testNumbersAreSpelledAsPythonStr() {
        let cases: [(Double, String)] = [(0.0001, "0.0001"), (1e-05, "1e-05"), (0.1, "0.1"), (0.0, "0.0"), (100.0, "100.0"),
                                         (1e16, "1e+16"), (1e15, "1000000000000000.0"), (2.5e-07, "2.5e-07"), (0.0005, "0.0005"),
                                         (123456.789, "123456.789"), (1.0, "1.0"), (0.00030000000000000003, "0.00030000000000000003"),
                                         (1.0 / 3, "0.3333333333333333"), (12345678901234567.0, "1.2345678901234568e+16"), (-0.5, "-0.5"),
                                         (0.00012, "0.00012")]
        for (v, s) in cases { XCTAssertEqual(PythonFormat.float(v), s, "\(v)") }
        XCTAssertEqual(PythonLiteral.list([.int(300), .int(100)]).description, "[300, 100]")
    }

    func testTheSubsetParsesCommentsDocstringsImportsAndMultiLineLists() throws {
        let p = try write(#"""
        # A comment
        """Module docstring
        over two lines."""
        import ml_collections
        from ml_collections import config_dict

        def get_config():
          '''Docstring.'''
          config = ml_collections.ConfigDict()
          config.model = "MLP"   # double quotes, trailing comment
          config.dataset = 'mnist'
          config.lr_scheduler = 'step_mnist'
          config.learning_rate = 0.1
          config.momentum = 0.9
          config.batch_size = 128
          config.num_epochs = 1
          config.log_every_steps = 10
          config.optimizer = 'sam'
          config.seed = 0
          config.pruner = 'random'
          config.sparsity = 0.0
          config.num_neurons = [
              64,  # first
              32,
          ]
          config.weight_decay = 1e-4
          config.rho = .5
          config.data_dir = None
          config.restore_checkpoint = True
          return config
        """#)
        let c = try Config.load(file: p)
        XCTAssertEqual(c.numNeurons, [64, 32]); XCTAssertEqual(c.weightDecay, 1e-4); XCTAssertEqual(c.rho, 0.5)
        XCTAssertNil(c.dataDir); XCTAssertTrue(c.restoreCheckpoint)
    }

    func assertConfigError(_ text: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try write(text)
        XCTAssertThrowsError(try Config.load(file: p), file: file, line: line) { e in
            for part in parts { XCTAssertTrue("\(e)".contains(part), "'\(e)' lacks '\(part)'", file: file, line: line) }
        }
    }

    func testBadFilesNameFileLineAndKey() throws {
        try assertConfigError("config = ml_collections.ConfigDict()\nconfig.modle = 'MLP'\n", contains: ["c.py:2", "config.modle", "unknown key"])
        try assertConfigError("config.batch_size = '128'\n", contains: ["c.py:1", "config.batch_size", "expected an int"])
        try assertConfigError("config.num_neurons = [300, 'a']\n", contains: ["c.py:1", "num_neurons"])
        try assertConfigError("\n\nconfig.rho = 0.05 * 2\n", contains: ["c.py:3", "config.rho"])
        try assertConfigError("config.lr = get_lr()\n", contains: ["c.py:1"])
        try assertConfigError("x = 1\n", contains: ["c.py:1", "cannot understand 'x = 1'"])
        try assertConfigError("config.model = 'MLP\n", contains: ["c.py:1", "unterminated string"])
        try assertConfigError("config.num_neurons = [1, 2\n", contains: ["c.py:1", "unclosed list"])
    }

    func testImpossibleValuesNameTheKey() throws {
        let bad: [(String, String, String)] = [
            ("batch_size", "0", "batch_size"), ("sparsity", "1.5", "sparsity"), ("sparsity", "-0.1", "sparsity"),
            ("rho", "0.0", "rho"), ("model", "VGG", "model"), ("dataset", "svhn", "dataset"), ("pruner", "grasp", "pruner"),
            ("lr_scheduler", "linear", "lr_scheduler"), ("optimizer", "adam", "optimizer"), ("num_neurons", "[]", "num_neurons"),
            ("label_noise", "2.0", "label_noise"), ("sam_shards", "3", "sam_shards"), ("num_epochs", "0", "num_epochs"),
        ]
        for (key, value, named) in bad {
            XCTAssertThrowsError(try Config.load(file: path("mnist_mlp.py"), overrides: [(key, value)]), "\(key)=\(value)") { e in
                XCTAssertTrue("\(e)".contains("config.\(named)"), "\(key)=\(value): \(e)")
            }
        }
        // rho 0 is fine with sgd.
        XCTAssertNoThrow(try Config.load(file: path("mnist_mlp.py"), overrides: [("optimizer", "sgd"), ("rho", "0.0")]))
    }

    /// A file must set what the original's training code reads; an empty file is refused, naming the keys.
    func testRequiredKeysMustBeSet() throws {
        try assertConfigError("", contains: ["c.py", "config.model", "is required", "dataset", "sparsity"])
        var text = try String(contentsOfFile: path("mnist_mlp.py"), encoding: .utf8)
        text = text.replacingOccurrences(of: "config.num_neurons = [300, 100]", with: "")
        try assertConfigError(text, contains: ["c.py", "config.num_neurons", "is required"])
        text = text.replacingOccurrences(of: "config.model = 'MLP'", with: "config.model = 'ResNet18'")
        try assertConfigError(text, contains: ["config.num_filters", "is required"])
        // sgd reads no rho.
        let sgd = try String(contentsOfFile: path("mnist_mlp.py"), encoding: .utf8)
            .replacingOccurrences(of: "config.rho = 0.05", with: "").replacingOccurrences(of: "'sam'", with: "'sgd'")
        XCTAssertNoThrow(try Config.load(file: try write(sgd)))
    }

    /// Range errors name the file and line that set the value, or the override.
    func testValidationNamesWhereTheValueWasSet() throws {
        let text = try String(contentsOfFile: path("mnist_mlp.py"), encoding: .utf8)
            .replacingOccurrences(of: "config.batch_size = 128", with: "config.batch_size = -4")
        let p = try write(text)
        let line = text.components(separatedBy: "\n").firstIndex { $0.contains("batch_size = -4") }! + 1
        XCTAssertThrowsError(try Config.load(file: p)) { e in
            XCTAssertEqual(e as? ConfigError, ConfigError(file: p, line: line, key: "batch_size", message: "must be in 1...16777216, got -4"))
        }
        XCTAssertThrowsError(try Config.load(file: path("mnist_mlp.py"), overrides: [("rho", "1e999")])) { e in
            XCTAssertTrue("\(e)".hasPrefix("--config.rho=1e999: config.rho: must be finite"), "\(e)")
        }
    }

    func testMissingFileIsNamed() {
        XCTAssertThrowsError(try Config.load(file: "/nonexistent/c.py")) { e in XCTAssertTrue("\(e)".contains("/nonexistent/c.py"), "\(e)") }
    }
}
