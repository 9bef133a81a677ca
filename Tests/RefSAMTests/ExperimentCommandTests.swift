import Foundation
import XCTest
@testable import RefSAM

/// `ref-run sharpness`, `spectra` and `converge` end to end on a tiny dataset: the files
/// they promise, and errors that name what is wrong.
final class ExperimentCommandTests: XCTestCase {
    func testSharpnessSpectraAndConvergeWriteWhatTheyPromise() throws {
        let data = try tinyMNIST()
        let dir = try makeTemporaryDirectory("experiments")
        let config = ["--config=\(Repo.config("mnist_mlp.py"))", "--config.num_neurons=[4]", "--config.num_epochs=1",
                      "--config.batch_size=64", "--config.data_dir=\(data)"]
        let train = try runRefRun(["train", "--workdir=\(dir)/w"] + config)
        XCTAssertEqual(train.status, 0, train.err)
        let runDir = "\(dir)/w/dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1"

        let sharp = try runRefRun(["sharpness", "--checkpoint=\(runDir)", "--examples", "64", "--power_iterations", "3",
                                   "--trace_probes", "1", "--slq_probes", "1", "--lanczos_steps", "3", "--label", "tiny",
                                   "--out", "\(dir)/r.json"] + config)
        XCTAssertEqual(sharp.status, 0, sharp.err)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = SharpnessReport.nonFiniteDecoding
        let report = try decoder.decode(SharpnessReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/r.json")))
        let parameters: Int = 784 * 4 + 4 + 4 * 10 + 10
        XCTAssertEqual(report.parameters, parameters)
        XCTAssertEqual(report.examples, 64)
        XCTAssertTrue(report.traceStandardError.isNaN, "one probe has no standard error, and the report says so")
        XCTAssertEqual(report.m, 64)
        XCTAssertEqual(report.slqNodes.count, 1)
        XCTAssertEqual(report.moments.count, 4)
        XCTAssertTrue(report.lambdaMax.isFinite && report.trace.isFinite && report.mSharpness.isFinite)
        for (label, value) in [("lambda_max", report.lambdaMax), ("trace", report.trace), ("m-sharpness", report.mSharpness)] {
            XCTAssertTrue(sharp.out.contains(label), "\(label) is not printed:\n\(sharp.out)")
            _ = value
        }

        let spectra = try runRefRun(["spectra", "--out", "\(dir)/s.svg", "\(dir)/r.json"])
        XCTAssertEqual(spectra.status, 0, spectra.err)
        let svg = try String(contentsOfFile: "\(dir)/s.svg", encoding: .utf8)
        XCTAssertTrue(svg.contains("tiny (max ") && svg.contains("<polyline"), svg)

        let converge = try runRefRun(["converge", "--workdir=\(dir)/c", "--widths", "4,8", "--methods", "gd,usam", "--examples", "8",
                                      "--steps", "30", "--record_every", "5", "--data_dir", data])
        XCTAssertEqual(converge.status, 0, converge.err)
        let csv = try String(contentsOfFile: "\(dir)/c/converge.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "width,method,parameters,final_loss,rate_per_step,steps_per_decade")
        XCTAssertEqual(csv.dropFirst().map { $0.split(separator: ",").prefix(2).joined(separator: ",") }, ["4,gd", "4,usam", "8,gd", "8,usam"])
        for f in ["curves.json", "converge.svg", "rate.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/c/\(f)"), f)
        }
    }

    func testErrorsNameWhatIsWrong() throws {
        let dir = try makeTemporaryDirectory("experiment-errors")
        let noCheckpoint = try runRefRun(["sharpness", "--config=\(Repo.config("mnist_mlp.py"))"])
        XCTAssertEqual(noCheckpoint.status, 2)
        XCTAssertTrue(noCheckpoint.err.contains("--checkpoint"), noCheckpoint.err)
        try Data("{\"not\": \"a report\"}".utf8).write(to: URL(fileURLWithPath: "\(dir)/x.json"))
        let notReport = try runRefRun(["spectra", "--out", "\(dir)/s.svg", "\(dir)/x.json"])
        XCTAssertEqual(notReport.status, 2)
        XCTAssertTrue(notReport.err.contains("x.json is not a report"), notReport.err)
        let badMethod = try runRefRun(["converge", "--workdir=\(dir)/c", "--methods", "gd,adam"])
        XCTAssertEqual(badMethod.status, 2)
        XCTAssertTrue(badMethod.err.contains("'adam' is not one of gd, sam, usam"), badMethod.err)
        let noGrid = try runRefRun(["sweep", "--workdir=\(dir)/s", "--config=\(Repo.config("mnist_mlp.py"))"])
        XCTAssertEqual(noGrid.status, 2)
        XCTAssertTrue(noGrid.err.contains("--grid"), noGrid.err)
    }
}
