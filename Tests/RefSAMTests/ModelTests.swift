import Foundation
import XCTest
@testable import RefSAM
@testable import RefTensor

/// The models' trees against the listings of docs/PARAM_TREES.md (the contract with
/// the original Flax code), their parameter counts and initialisation.
final class ModelTests: XCTestCase {
    /// (path, shape) lines of the listing whose title starts with `title`.
    static func listing(_ title: String) throws -> [(String, [Int])] {
        let text = try String(contentsOfFile: Repo.docs + "/PARAM_TREES.md", encoding: .utf8)
        guard let start = text.range(of: "## Listing: " + title) else { throw TreeError.structure("no listing \(title)") }
        var out: [(String, [Int])] = []
        for line in text[start.upperBound...].split(separator: "\n").dropFirst() {
            if line.hasPrefix("## ") { break }
            let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            let dims = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
                .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            out.append((parts[0], dims))
        }
        return out
    }

    func check(_ model: Model, imageShape: [Int], listing title: String) throws {
        let (params, stats) = try model.initialize(seed: 0, imageShape: imageShape, Float.self)
        let ours = params.entries.map { ("params/" + $0.path, $0.tensor.shape) } + stats.entries.map { ("batch_stats/" + $0.path, $0.tensor.shape) }
        let expected = try Self.listing(title)
        XCTAssertGreaterThan(expected.count, 5)
        XCTAssertEqual(ours.map(\.0), expected.map(\.0), "\(model.name): paths or their order")
        XCTAssertEqual(ours.map(\.1), expected.map(\.1), "\(model.name): shapes")
    }

    func testMLPTree() throws {
        try check(Model(.mlp(numNeurons: [300, 100]), numClasses: 10), imageShape: [28, 28, 1], listing: "MLP")
    }
    func testResNet18Tree() throws {
        try check(Model(.resNet18(numFilters: 4), numClasses: 10), imageShape: [32, 32, 3], listing: "ResNet18")
    }
    func testResNet50Tree() throws {
        try check(Model(.resNet50ImageNet(numFilters: 4), numClasses: 10), imageShape: [32, 32, 3], listing: "ResNet50_ImageNet")
    }

    func testParameterCounts() throws {
        XCTAssertEqual(try Model(.mlp(numNeurons: [300, 100]), numClasses: 10).parameterCount(imageShape: [28, 28, 1]), 266_610)
        // Sum of the ResNet18 num_filters 4 listing's params/ shapes.
        let listed = try Self.listing("ResNet18").filter { $0.0.hasPrefix("params/") }.map { $0.1.reduce(1, *) }.reduce(0, +)
        XCTAssertEqual(try Model(.resNet18(numFilters: 4), numClasses: 10).parameterCount(imageShape: [32, 32, 3]), listed)
    }

    /// lecun_normal: std sqrt(1 / fan_in), support (-2, 2) * sqrt(1 / fan_in) / 0.8796; biases 0;
    /// BatchNorm scale 1 except bottleneck BatchNorm_2 (0); running mean 0, var 1.
    func testInitialisationFollowsFlaxDefaults() throws {
        let (mlp, _) = try Model(.mlp(numNeurons: [300, 100]), numClasses: 10).initialize(seed: 1, imageShape: [28, 28, 1], Double.self)
        let k = mlp["Dense_0/kernel"]!.scalars
        let std = (k.map { $0 * $0 }.reduce(0, +) / Double(k.count)).squareRoot()
        XCTAssertEqual(std, (1.0 / 784).squareRoot(), accuracy: 0.02 * (1.0 / 784).squareRoot())
        XCTAssertLessThan(k.map(abs).max()!, 2 * (1.0 / 784).squareRoot() / 0.87962566103423978)
        XCTAssertEqual(mlp["Dense_0/bias"]!, .zeros([300]))
        let (r50, s50) = try Model(.resNet50ImageNet(numFilters: 2), numClasses: 10).initialize(seed: 1, imageShape: [32, 32, 3], Double.self)
        XCTAssertEqual(r50["BottleneckResNetBlock_0/BatchNorm_2/scale"]!, .zeros([8]))
        XCTAssertEqual(r50["BottleneckResNetBlock_0/BatchNorm_1/scale"]!, .ones([2]))
        XCTAssertEqual(s50["bn_init/mean"]!, .zeros([2]))
        XCTAssertEqual(s50["bn_init/var"]!, .ones([2]))
        // Same seed, same parameters; another seed, others.
        let again = try Model(.mlp(numNeurons: [300, 100]), numClasses: 10).initialize(seed: 1, imageShape: [28, 28, 1], Double.self).params
        XCTAssertEqual(again, mlp)
        let other = try Model(.mlp(numNeurons: [300, 100]), numClasses: 10).initialize(seed: 2, imageShape: [28, 28, 1], Double.self).params
        XCTAssertNotEqual(other["Dense_0/kernel"], mlp["Dense_0/kernel"])
    }
}
