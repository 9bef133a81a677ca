import Foundation
import XCTest
@testable import RefSAM

/// `ref-run sweep`: the grid, the runs it makes (each the run the training command
/// makes), resuming, failures, sweep.csv and the figures.
final class SweepTests: XCTestCase {
    func testGridParsing() throws {
        let a = try SweepGrid.axis(parsing: "num_neurons=[[75,25], [150,50]]")
        XCTAssertEqual(a.key, "num_neurons")
        XCTAssertEqual(a.values, ["[75,25]", "[150,50]"])
        XCTAssertEqual(try SweepGrid.axis(parsing: "pruner=['random', \"snip\"]").values, ["'random'", "\"snip\""])
        XCTAssertEqual(try SweepGrid.axis(parsing: " seed = [1,2,3] ").values, ["1", "2", "3"])
        for bad in ["seed", "seed=1,2", "seed=[]", "seed=[1,,2]", "seed=[1,1]", "num_neurons=[[1,2]", "=[1]"] {
            XCTAssertThrowsError(try SweepGrid.axis(parsing: bad), bad) { e in
                XCTAssertTrue("\(e)".contains("--grid"), "\(bad): \(e)")
            }
        }
        let grid = SweepGrid(axes: [.init(key: "optimizer", values: ["sgd", "sam"]), .init(key: "seed", values: ["1", "2"])])
        XCTAssertEqual(grid.points.map { SweepGrid.name(of: $0) },
                       ["optimizer=sgd,seed=1", "optimizer=sgd,seed=2", "optimizer=sam,seed=1", "optimizer=sam,seed=2"])
        XCTAssertEqual(SweepGrid.name(of: [(key: "num_neurons", value: "[75, 25]")]), "num_neurons=75-25")
    }

    /// summary.md pools seeds: mean +- sample standard deviation, SAM - SGD paired by seed.
    func testSummaryPoolsSeedsAndPairsTheGain() {
        func row(_ opt: String, _ seed: String, _ acc: Double, _ loss: Double) -> Sweep.Row {
            Sweep.Row(point: [(key: "optimizer", value: opt), (key: "seed", value: seed)], parameters: 10, sparsity: 0,
                      status: "finished", epochs: 1, numEpochs: 1, bestTestAccuracy: acc, bestEpoch: 1, finalTestAccuracy: acc,
                      finalTestLoss: 0, finalTrainLoss: loss, finalTrainAccuracy: 0, seconds: 0, runDirectory: "",
                      relativeRunDirectory: "", history: [])
        }
        // SGD 0.90, 0.92 (mean 91.00, sd 1.41); SAM 0.93, 0.92 (mean 92.50, sd 0.71);
        // gains +3 and 0 points (mean +1.50, sd 2.12). Train loss means 0.15 and 0.25.
        let rows = [row("sgd", "1", 0.90, 0.1), row("sgd", "2", 0.92, 0.2), row("sam", "1", 0.93, 0.3), row("sam", "2", 0.92, 0.2)]
        let md = SweepSummary(rows: rows, axes: ["optimizer", "seed"]).markdown
        XCTAssertTrue(md.contains("| 10 | 91.00 ± 1.41 | 92.50 ± 0.71 | +1.50 ± 2.12 | 0.1500 | 0.2500 |"), md)
        XCTAssertTrue(md.contains("2 seeds") && md.contains("4 of 4 runs finished"), md)
    }

    func testPlanningRefusesConflictsAndBadValues() throws {
        let config = Repo.config("mnist_mlp.py")
        let dir = try makeTemporaryDirectory("sweep-plan")
        XCTAssertThrowsError(try Sweep(configFile: config, overrides: [("seed", "4")],
                                       grid: SweepGrid(axes: [.init(key: "seed", values: ["1"])]), workdir: dir)) { e in
            XCTAssertTrue("\(e)".contains("both a --config override and a grid axis"), "\(e)")
        }
        XCTAssertThrowsError(try Sweep(configFile: config, overrides: [],
                                       grid: SweepGrid(axes: [.init(key: "optimizer", values: ["sgd", "adam"])]), workdir: dir)) { e in
            XCTAssertTrue("\(e)".contains("optimizer") && "\(e)".contains("adam"), "\(e)")
        }
    }

    /// A 2 x 2 sweep of tiny runs: each row is the run `ref-run train` makes with the
    /// printed command; a second call skips them; a changed config is refused.
    func testSweepRunsResumesAndReportsEachRunAsTheTrainingCommandMakesIt() throws {
        let dir = try makeTemporaryDirectory("sweep")
        let workdir = dir + "/sweep"
        let common = ["--config=\(Repo.config("mnist_mlp.py"))", "--config.num_epochs=2", "--config.batch_size=64",
                      "--config.data_dir=\(try tinyMNIST())"]
        let args = ["sweep", "--workdir=\(workdir)", "--grid", "num_neurons=[[4],[6]]", "--grid", "optimizer=[sgd,sam]"] + common
        let first = try runRefRun(args)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.contains("sweep: 4 of 4 runs finished"), first.out)

        let csv = try String(contentsOfFile: workdir + "/sweep.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(csv.count, 5)
        XCTAssertTrue(csv[0].hasPrefix("num_neurons,optimizer,parameters,sparsity,status,epochs,num_epochs,best_test_accuracy"))
        let header = csv[0].split(separator: ",").map(String.init)
        func cell(_ line: String, _ name: String) -> String {
            // The width is quoted ("[4]" has no comma, so it is not): split plainly.
            line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)[header.firstIndex(of: name)!]
        }
        XCTAssertEqual(csv[1].split(separator: ",").prefix(2).joined(separator: ","), "[4],sgd")
        let small: Int = 784 * 4 + 4 + 4 * 10 + 10, wide: Int = 784 * 6 + 6 + 6 * 10 + 10
        XCTAssertEqual(cell(csv[1], "parameters"), String(small))
        XCTAssertEqual(cell(csv[4], "parameters"), String(wide))
        for line in csv.dropFirst() { XCTAssertEqual(cell(line, "status"), "finished"); XCTAssertEqual(cell(line, "epochs"), "2") }
        let summary = try String(contentsOfFile: workdir + "/summary.md", encoding: .utf8)
        XCTAssertTrue(summary.hasPrefix("| num_neurons | parameters | SGD test acc (%) | SAM test acc (%) | SAM - SGD (pp) |"), summary)
        XCTAssertTrue(summary.contains("| [6] | \(wide) | "), summary)
        XCTAssertTrue(summary.contains("4 of 4 runs finished"), summary)
        for figure in ["accuracy.svg", "gain.svg", "train_loss.svg"] {
            let svg = try String(contentsOfFile: workdir + "/" + figure, encoding: .utf8)
            XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"), figure)
            XCTAssertTrue(svg.contains("<polyline") || svg.contains("<circle"), "\(figure) draws no data")
        }

        // Row 4 (width 6, SAM) is what the printed training command makes, to the bit.
        let train = ["train", "--workdir=\(dir)/alone", "--config.num_neurons=[6]", "--config.optimizer=sam"] + common
        let alone = try runRefRun(train)
        XCTAssertEqual(alone.status, 0, alone.err)
        let suffix = "dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_1/metrics.jsonl"
        func numbers(_ path: String) throws -> [[Double]] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
                let m = try JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8))
                return [m.trainLoss, m.trainAccuracy, m.testLoss, m.testAccuracy]
            }
        }
        XCTAssertEqual(try numbers("\(workdir)/runs/num_neurons=6,optimizer=sam/\(suffix)"), try numbers("\(dir)/alone/\(suffix)"))
        XCTAssertTrue(first.out.contains("--config.num_neurons=[6]' --config.optimizer=sam") || first.out.contains("'--config.num_neurons=[6]'"),
                      "the sweep prints each run's training command")

        // Again: nothing to do, nothing changes.
        let before = try String(contentsOfFile: workdir + "/sweep.csv", encoding: .utf8)
        let second = try runRefRun(args)
        XCTAssertEqual(second.status, 0, second.err)
        XCTAssertFalse(second.out.contains("ref-run train"), "a finished run was started again:\n\(second.out)")
        XCTAssertEqual(try String(contentsOfFile: workdir + "/sweep.csv", encoding: .utf8), before)

        // Another base config over the same runs is refused, naming what changed.
        let changed = try runRefRun(args + ["--config.learning_rate=0.05"])
        XCTAssertEqual(changed.status, 2)
        XCTAssertTrue(changed.err.contains("holds a run of another config") && changed.err.contains("learning_rate = 0.05"), changed.err)
    }

    /// A run interrupted after its first epoch (here: stopped by hand) is resumed by the
    /// sweep from its checkpoint, and ends as the uninterrupted run does, to the bit.
    func testAnInterruptedRunIsResumedBitIdentically() throws {
        let dir = try makeTemporaryDirectory("sweep-resume")
        let common = ["--config=\(Repo.config("mnist_mlp.py"))", "--config.num_neurons=[4]", "--config.num_epochs=2",
                      "--config.batch_size=64", "--config.data_dir=\(try tinyMNIST())"]
        let stopped = try runRefRun(["train", "--workdir=\(dir)/sweep/runs/seed=3", "--config.seed=3", "--stop_after_epochs", "1"] + common)
        XCTAssertEqual(stopped.status, 0, stopped.err)
        let sweep = try runRefRun(["sweep", "--workdir=\(dir)/sweep", "--grid", "seed=[3]"] + common)
        XCTAssertEqual(sweep.status, 0, sweep.err)
        XCTAssertTrue(sweep.out.contains("(resuming after epoch 1)"), sweep.out)
        let straight = try runRefRun(["train", "--workdir=\(dir)/straight", "--config.seed=3"] + common)
        XCTAssertEqual(straight.status, 0, straight.err)
        let suffix = "dataset_mnist/optimizer_sam/model_MLP/lr_0.1/wd_0.0001/rho_0.05/pruner_random/sparsity_0.0/seed_3"
        XCTAssertEqual(try readBytes("\(dir)/sweep/runs/seed=3/\(suffix)/checkpoint_4"), try readBytes("\(dir)/straight/\(suffix)/checkpoint_4"))
    }

    /// A run that diverges is recorded as failed, the sweep goes on and exits 1; the
    /// next call does not retry it (training is deterministic).
    func testADivergingRunIsRecordedAndNotRetried() throws {
        let workdir = try makeTemporaryDirectory("sweep-fail") + "/w"
        let args = ["sweep", "--workdir=\(workdir)", "--config=\(Repo.config("mnist_mlp.py"))", "--config.num_neurons=[4]",
                    "--config.num_epochs=1", "--config.batch_size=64", "--config.data_dir=\(try tinyMNIST())",
                    "--grid", "learning_rate=[1e30,0.1]"]
        let r = try runRefRun(args)
        XCTAssertEqual(r.status, 1, r.out + r.err)
        XCTAssertTrue(r.out.contains("1 failed"), r.out)
        let failed = try String(contentsOfFile: workdir + "/runs/learning_rate=1e30/failed.txt", encoding: .utf8)
        XCTAssertTrue(failed.contains("the loss is"), failed)
        let csv = try String(contentsOfFile: workdir + "/sweep.csv", encoding: .utf8)
        XCTAssertTrue(csv.contains("1e30,") && csv.contains(",failed,") && csv.contains(",finished,"), csv)
        let again = try runRefRun(args)
        XCTAssertEqual(again.status, 1)
        XCTAssertFalse(again.out.contains("ref-run train"), again.out)
    }
}
