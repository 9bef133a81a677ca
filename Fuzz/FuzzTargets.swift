// libFuzzer entry point for every reader of untrusted input (Fuzz/run.sh builds and
// runs it). FUZZ_TARGET picks the reader; each must return or throw on any input,
// never crash, hang or allocate without bound.
import Foundation
@testable import RefSAMCheckpoint
@testable import RefSAMConfig
@testable import RefSAMData
@testable import RefSAMFixtures
@testable import RefTensor

let target = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""

/// Two labels, valid: the partner of a fuzzed IDX image file.
let twoLabels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 3, 7]
/// Two 2x2 images, valid: the partner of a fuzzed IDX label file.
let twoImages: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2] + [UInt8](repeating: 9, count: 8)

func run(_ bytes: [UInt8]) {
    switch target {
    case "config":
        _ = try? Config.load(text: String(decoding: bytes, as: UTF8.self), file: "fuzz.py")
    case "override":
        // KEY=VALUE as the command line passes it.
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        _ = try? Config.load(file: nil, overrides: [(parts.first ?? "", parts.count > 1 ? parts[1] : "")])
    case "idx-images":
        _ = try? MNIST.parse(images: bytes, imagesPath: "images", labels: twoLabels, labelsPath: "labels")
    case "idx-labels":
        _ = try? MNIST.parse(images: twoImages, imagesPath: "images", labels: bytes, labelsPath: "labels")
    case "gzip":
        _ = try? Inflate.gunzip(bytes)
    case "cifar-tar":
        if let members = try? Tar.members(bytes, path: "c.tar") {
            _ = try? CIFAR10.parse(members.filter { $0.name.hasSuffix(".bin") }.map { ($0.name, $0.bytes) })
        }
    case "npy":
        if let a = try? Npy.decode(bytes, name: "x.npy") {
            _ = try? a.tensor(Float.self)
            _ = try? a.int32s()
        }
    case "imagenet":
        _ = try? ImageNetArrays.dataset(images: Npy.decode(bytes, name: "images.npy"), imagesPath: "images.npy",
                                        labels: [Int32](repeating: 1, count: 2), labelsPath: "labels.npy")
    case "fixture":
        _ = try? Fixture.parse(Data(bytes), directory: "fuzz")
    case "msgpack":
        _ = try? Checkpoint.decode(bytes, path: "checkpoint_1", Float.self)
    default:
        fatalError("FUZZ_TARGET must be one of: config, override, idx-images, idx-labels, gzip, cifar-tar, npy, imagenet, fixture, msgpack")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
