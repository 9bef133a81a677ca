import XCTest
import RefSAM
import RefSAMCUDA

/// `--device cuda` on the command line: a clear error without the backend or without a
/// driver, and with the stand-in driver the CUDA path end to end (verify, golden, train).
final class DeviceOptionTests: XCTestCase {
    var fixtures: String { Repo.fixtures }

    func testBadDeviceIsAUsageError() throws {
        let r = try runRefRun(["verify", "--device", "tpu", fixtures + "/mlp_sgd_f64"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("--device must be cpu or cuda, got 'tpu'"), r.err)
    }

    #if !CUDA
    func testWithoutTheBackendCudaIsRefusedByName() throws {
        for args in [["verify", "--device", "cuda", fixtures + "/mlp_sgd_f64"], ["bench", "step", "--device", "cuda"]] {
            let r = try runRefRun(args)
            XCTAssertEqual(r.status, 2, args.joined(separator: " "))
            XCTAssertTrue(r.err.contains("built without the CUDA backend") && r.err.contains("make cuda"), r.err)
        }
    }
    #else
    /// Runs ref-run with the stand-in driver and NVRTC in its environment.
    func runOnStandIn(_ args: [String], driver: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let nvrtc = try CUDATestSupport.requireNVRTC()
        let standIn = try driver ?? CUDATestSupport.standInLibraryPath()
        return try runRefRun(args, environment: ["CUDA_DRIVER_LIBRARY": standIn, "NVRTC_LIBRARY": nvrtc])
    }

    func testWithoutADriverTheErrorNamesWhatIsMissing() throws {
        let r = try runOnStandIn(["verify", "--device", "cuda", fixtures + "/mlp_sgd_f64"], driver: "/nonexistent/libcuda.so.1")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("cannot open the CUDA driver (tried /nonexistent/libcuda.so.1)"), r.err)
    }

    func testVerifyReplaysCommittedFixturesOnTheDevice() throws {
        // float64 at rtol 1e-9 (masks, shards) and float32 at the conditioned tolerance.
        let dirs = ["mlp_sam_f64", "mlp_sam_masked_f64", "mlp_sam_shards2_f64", "mlp_sgd_f32"].map { fixtures + "/" + $0 }
        let r = try runOnStandIn(["verify", "--device", "cuda"] + dirs)
        XCTAssertEqual(r.status, 0, r.out + r.err)
        let steps = try dirs.map { try FileManager.default.contentsOfDirectory(atPath: $0).filter { $0.hasPrefix("step_") }.count }.reduce(0, +)
        XCTAssertGreaterThanOrEqual(steps, 4)
        XCTAssertEqual(r.out.components(separatedBy: "all 26 outputs pass").count - 1, steps, "every step of every fixture passes")
        XCTAssertTrue(r.out.contains(fixtures + "/mlp_sam_masked_f64/step_000 (on cuda)"), "the report names the fixture replayed")
    }

    func testGoldenOnTheDeviceIsVerifiedByTheCPU() throws {
        let out = try makeTemporaryDirectory("cuda-golden")
        let g = try runOnStandIn(["golden", "--device", "cuda", "--synthetic", "--steps", "2", "--dtype", "float64", "--out", out,
                                  "--config.model=MLP", "--config.num_neurons=[16,8]", "--config.batch_size=5", "--config.sparsity=0.5"])
        XCTAssertEqual(g.status, 0, g.err)
        let v = try runRefRun(["verify", out])               // this reference, on the CPU
        XCTAssertEqual(v.status, 0, v.out + v.err)
        XCTAssertTrue(v.out.contains("producer: ref-run golden") && v.out.contains("--device cuda"), v.out)
    }

    func testTrainingOnTheDeviceMatchesTheCPU() throws {
        let data = try tinyMNIST(train: 40, test: 20)
        var runs: [String: String] = [:]
        for device in ["cpu", "cuda"] {
            let work = try makeTemporaryDirectory("cuda-train-\(device)")
            let r = try runOnStandIn(["--workdir=" + work, "--config=" + Repo.config("mnist_mlp.py"),
                                      "--device", device, "--config.data_dir=" + data, "--config.num_epochs=2", "--config.batch_size=10",
                                      "--config.num_neurons=[12]", "--config.dtype=float64"])
            XCTAssertEqual(r.status, 0, r.err)
            let metrics = try FileManager.default.subpathsOfDirectory(atPath: work).first { $0.hasSuffix("metrics.jsonl") }
            runs[device] = try String(contentsOfFile: work + "/" + XCTUnwrap(metrics), encoding: .utf8)
        }
        // Same losses and accuracies to float64 rounding (times differ; compare the numbers that are not times).
        func numbers(_ s: String) -> [Double] {
            s.split(separator: "\n").flatMap { line -> [Double] in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return [] }
                return ["train_loss", "train_accuracy", "test_loss", "test_accuracy"].compactMap { o[$0] as? Double }
            }
        }
        let (cpu, cuda) = (numbers(runs["cpu"]!), numbers(runs["cuda"]!))
        XCTAssertEqual(cpu.count, 8, runs["cpu"]!)
        XCTAssertEqual(cpu.count, cuda.count)
        for (a, b) in zip(cpu, cuda) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(abs(a), 1)) }
    }
    #endif
}
