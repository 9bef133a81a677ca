import Dispatch
import RefSAMConfig
import RefSAMData
import RefTensor

extension RunSpec {
    /// One split of the run's dataset, its first `examples` only when given, checked
    /// against the image shape the model is built for.
    public func loadData(_ split: DatasetSplit, examples: Int? = nil) throws -> ImageDataset {
        if let examples, examples < 1 {
            throw RunError.invalidRequest("\(split.rawValue) examples must be >= 1, got \(examples)")
        }
        var data = try Datasets.load(dataset, split: split, dataDir: dataDirectory)
        if let examples { data = data.prefix(examples) }
        try checkData(data, split)
        return data
    }

    /// Both splits (`loadData`), the test split on a second thread while this one reads
    /// the training split: reading a short run's data is mostly inflating gzip'd files,
    /// one core each. Errors as the two calls in turn would give: the training split's first.
    public func loadData(trainExamples: Int? = nil, testExamples: Int? = nil) throws -> (train: ImageDataset, test: ImageDataset) {
        let done = DispatchGroup()
        nonisolated(unsafe) var test: Result<ImageDataset, Error>!   // written by the one async task, read after wait()
        DispatchQueue.global().async(group: done) { test = Result { try loadData(.test, examples: testExamples) } }
        let train = Result { try loadData(.train, examples: trainExamples) }
        done.wait()
        return (try train.get(), try test.get())
    }

    /// Throws unless `data`, the `split` of this run's dataset, holds at least one image,
    /// images of `imageShape` and labels of this dataset's classes.
    public func checkData(_ data: ImageDataset, _ split: DatasetSplit) throws {
        guard data.imageShape == imageShape, data.numClasses == dataset.numClasses else {
            throw RunError.dataMismatch(dataset: dataset.rawValue, expected: imageShape, got: data.imageShape)
        }
        guard data.count > 0 else { throw RunError.emptyDataset(dataset: dataset.rawValue, split: split.rawValue) }
    }

    /// The training pipeline over `data`, with this run's label noise applied; also
    /// returns the indices of the labels the noise changed.
    public func trainPipeline<T: RefScalar>(_ data: ImageDataset, _: T.Type = T.self) throws -> (pipeline: DataPipeline<T>, noisyLabels: [Int]) {
        let noise = try LabelNoise.apply(data.labels, fraction: labelNoise, numClasses: data.numClasses, seed: seed)
        return (DataPipeline(dataset: data, batchSize: batchSize, train: true, seed: seed, labels: noise.labels), noise.changed)
    }

    /// The evaluation pipeline over `data` (in order, no augmentation).
    public func testPipeline<T: RefScalar>(_ data: ImageDataset, _: T.Type = T.self) -> DataPipeline<T> {
        DataPipeline(dataset: data, batchSize: batchSize, train: false, seed: seed)
    }
}
