import Foundation
import XCTest
@testable import RefSAM
@testable import RefSAMCheckpoint
@testable import RefSAMData
@testable import ref_run

/// The catalogue of hostile inputs that once crashed or hung ref-run, each with the
/// exact input: every one must now be an error that names the file, key or value.
final class BadInputTests: XCTestCase {
    func assertThrows<T>(_ body: @autoclosure () throws -> T, mentions parts: [String],
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            for p in parts { XCTAssertTrue("\(e)".contains(p), "'\(e)' lacks '\(p)'", file: file, line: line) }
        }
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try makeTemporaryDirectory("bad") + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: msgpack checkpoints

    /// 5 bytes announcing an array of 2^32 - 1 items: refused before anything is reserved.
    func testMsgpackCountLongerThanTheFile() throws {
        let path = try write([0xdd, 0xff, 0xff, 0xff, 0xff], "checkpoint_1")
        assertThrows(try Checkpoint.load(path, Float.self), mentions: [path, "4294967295 items", "longer than"])
    }

    /// 1,000,000 nested arrays: refused at the depth bound, not by a stack overflow.
    func testMsgpackNestedAMillionDeep() throws {
        let path = try write([UInt8](repeating: 0x91, count: 1_000_000) + [0xc0], "checkpoint_1")
        assertThrows(try Checkpoint.load(path, Float.self), mentions: [path, "nested deeper than 256"])
    }

    func testCheckpointStepMustBeAWholeNonNegativeNumber() throws {
        for (step, shown) in [(MessagePack.float(.nan), "nan"), (.int(-5), "-5")] {
            // A valid tree except for the step: a float step as an ndarray, an int step as an int.
            let stepNode: MessagePack = step == .int(-5) ? step
                : .ext(type: 1, data: MessagePack.array([.array([]), .string("float64"),
                                                         .binary(withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { Array($0) })]).encoded())
            let root = MessagePack.map([(.string("step"), stepNode), (.string("params"), .map([]))])
            let path = try write(root.encoded(), "checkpoint_1")
            assertThrows(try Checkpoint.load(path, Float.self), mentions: [path, "step", shown])
        }
    }

    /// A tree holding something other than arrays names where and what.
    func testWrongTreeIsNamed() throws {
        let root = MessagePack.map([(.string("step"), .int(1)), (.string("params"), .map([(.string("Dense_0"), .int(3))]))])
        let path = try write(root.encoded(), "checkpoint_1")
        assertThrows(try Checkpoint.load(path, Float.self), mentions: [path, "'params/Dense_0' holds an int"])
    }

    // MARK: .npy

    func testNpyShapeTooLargeToExist() throws {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 12, 12, 1), }"
        let bytes = Npy.encode(shape: [1], dtype: .float32, bytes: [0, 0, 0, 0])
        // Re-encode with the hostile header (same layout as Npy.encode).
        let padded = header + String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let hostile = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.utf8.count & 0xff), UInt8(padded.utf8.count >> 8)] + Array(padded.utf8)
        XCTAssertGreaterThan(bytes.count, hostile.count - 1)
        let path = try write(hostile, "x.npy")
        assertThrows(try Npy.read(contentsOf: path), mentions: [path, "too large"])
    }

    func testNpyNegativeDimensionIsNamed() throws {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 2), }\n"
        let path = try write([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8), "x.npy")
        assertThrows(try Npy.read(contentsOf: path), mentions: [path, "'-3' is not a non-negative integer"])
    }

    // MARK: IDX, gzip, tar

    /// An IDX header of 2^31 x 2^31 images: the size product would overflow.
    func testIDXSizesThatOverflow() throws {
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        let images = be(0x803) + be(Int(Int32.max)) + be(Int(Int32.max)) + be(Int(Int32.max))
        assertThrows(try MNIST.parse(images: images, imagesPath: "imgs", labels: [0, 0, 8, 1, 0, 0, 0, 0], labelsPath: "labs"),
                     mentions: ["imgs", "more bytes than can exist"])
    }

    /// Output past the limit is refused (a gzip bomb): here a 106 kB case under a 50 kB limit.
    func testGzipBombIsRefused() throws {
        let saved = Inflate.outputLimit
        Inflate.outputLimit = 50_000
        defer { Inflate.outputLimit = saved }
        let gz = try readBytes(Repo.resource("gzip/dynamic.gz"))
        assertThrows(try Inflate.gunzip(gz), mentions: ["more than 50000 bytes", "gzip bomb"])
    }

    /// A tar member whose size field reads -1.
    func testTarMemberOfNegativeSize() throws {
        var header = [UInt8](repeating: 0, count: 512)
        for (i, c) in "data_batch_1.bin".utf8.enumerated() { header[i] = c }
        for (i, c) in "-1".utf8.enumerated() { header[124 + i] = c }
        header[156] = UInt8(ascii: "0")
        assertThrows(try Tar.members(header + [UInt8](repeating: 0, count: 1024), path: "c.tar"),
                     mentions: ["c.tar", "corrupt tar header", "-1"])
    }

    /// A training set of 0 images stops before any work (it divided by zero).
    func testEmptyTrainingSetIsRefused() throws {
        let d = try makeTemporaryDirectory("bad")
        try Data(DataTests.idx(images: [], rows: 28, cols: 28)).write(to: URL(fileURLWithPath: d + "/train-images-idx3-ubyte"))
        try Data(DataTests.idxLabels([])).write(to: URL(fileURLWithPath: d + "/train-labels-idx1-ubyte"))
        let spec = RunSpec(config: try Config.load(file: nil, overrides: [("data_dir", d)]))
        assertThrows(try spec.loadData(.train), mentions: ["mnist", "train", "no examples"])
    }

    // MARK: Configs and sizes

    func testDeeplyNestedConfigValue() throws {
        let value = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let path = try makeTemporaryDirectory("bad") + "/c.py"
        try "config.num_neurons = \(value)\n".write(toFile: path, atomically: true, encoding: .utf8)
        assertThrows(try Config.load(file: path), mentions: [path + ":1", "nested deeper than 32"])
    }

    /// A list over 40,000 lines parses (it once took quadratic time).
    func testLongMultiLineListParses() throws {
        let path = try makeTemporaryDirectory("bad") + "/c.py"
        try ("config.num_neurons = [\n" + String(repeating: "  1,\n", count: 40_000) + "]\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ConfigFile.read(path).first?.value, .list([PythonLiteral](repeating: .int(1), count: 40_000)))
    }

    /// Widths whose parameters cannot fit are refused before anything is allocated.
    func testHugeWidthsAreRefusedBeforeAllocating() throws {
        let spec = RunSpec(config: try Config.load(file: nil, overrides: [("num_neurons", "[10000000]")]))
        XCTAssertThrowsError(try spec.initialState(Float.self, from: .fresh) { XCTFail("no batch is needed"); throw RunError.invalidRequest("") }) { e in
            guard case let RunError.tooLarge(_, parameters, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(parameters, 784 * 10_000_000 + 10_000_000 + 10_000_000 * 10 + 10)
            XCTAssertTrue("\(e)".contains("num_neurons"), "\(e)")
        }
        assertThrows(try Config.load(file: nil, overrides: [("num_neurons", "[4611686018427387904]")]),
                     mentions: ["config.num_neurons", "1...2147483648"])
    }

    /// A batch that cannot fit is refused the same way (2^24 MNIST images: about 105 GB).
    func testHugeBatchIsRefusedBeforeAllocating() throws {
        let spec = RunSpec(config: try Config.load(file: nil, overrides: [("batch_size", "16777216")]))
        XCTAssertThrowsError(try spec.checkSize(Float.self)) { e in
            guard case let RunError.tooLarge(_, _, needed, _) = e else { return XCTFail("\(e)") }
            XCTAssertGreaterThan(needed ?? .max, 16_777_216 * 2 * 784 * 4 - 1)
            XCTAssertTrue("\(e)".contains("batch_size"), "\(e)")
        }
        XCTAssertNoThrow(try RunSpec(config: try Config.load(file: nil)).checkSize(Double.self))
    }

    /// The size formula agrees with the parameters `initialize` creates.
    func testParameterCountWithoutAllocatingMatchesInitialize() throws {
        let cases: [(Model, [Int])] = [(Model(.mlp(numNeurons: [7, 5]), numClasses: 10), [28, 28, 1]),
                                       (Model(.resNet18(numFilters: 3), numClasses: 10), [32, 32, 3]),
                                       (Model(.resNet18(numFilters: 2), numClasses: 7), [64, 40, 3]),
                                       (Model(.resNet50ImageNet(numFilters: 2), numClasses: 11), [40, 40, 3])]
        for (model, shape) in cases {
            XCTAssertEqual(model.parameterCountWithoutAllocating(imageShape: shape), try model.parameterCount(imageShape: shape), "\(model)")
        }
    }

    /// A NaN test loss (a step that diverged at the end of an epoch) is written as null, not an encoding error.
    func testNonFiniteMetricsEncodeAsNull() throws {
        let m = EpochMetrics(epoch: 1, step: 10, trainLoss: 2, trainAccuracy: 0.1, testLoss: .nan, testAccuracy: 0.1,
                             learningRate: .infinity, seconds: 1)
        let text = String(decoding: try JSONEncoder().encode(m), as: UTF8.self)
        XCTAssertTrue(text.contains(#""test_loss":null"#) && text.contains(#""learning_rate":null"#), text)
        let back = try JSONDecoder().decode(EpochMetrics.self, from: Data(text.utf8))
        XCTAssertTrue(back.testLoss.isNaN && back.learningRate.isNaN)
        XCTAssertEqual(back.trainLoss, 2)
    }

    // MARK: Command line

    func testBenchSizesMustBePositive() throws {
        assertThrows(try BenchCommand.run(try Arguments(["gemm", "--m", "-5"], booleans: RefRun.booleans)), mentions: ["--m", "-5"])
        assertThrows(try BenchCommand.run(try Arguments(["conv", "--repeat", "0"], booleans: RefRun.booleans)), mentions: ["--repeat"])
    }

    /// A checkpoint whose parameters hold NaN is not evaluated into a plausible number.
    func testEvalRefusesNonFiniteParameters() throws {
        let dir = try makeTemporaryDirectory("bad")
        let model = Model(.mlp(numNeurons: [4]), numClasses: 10)
        var state = TrainState(params: try model.initialize(seed: 0, imageShape: [28, 28, 1], Float.self).params, batchStats: TensorTree())
        var bias = state.params["Dense_1/bias"]!
        bias[flat: 3] = .nan
        state.params["Dense_1/bias"] = bias
        let path = try Checkpoint.save(state, directory: dir)
        let args = try Arguments(["--checkpoint", path, "--config.num_neurons=[4]", "--test_examples", "8"], booleans: RefRun.booleans)
        assertThrows(try EvalCommand.run(args), mentions: ["params/Dense_1/bias", "NaN"])
    }
}
