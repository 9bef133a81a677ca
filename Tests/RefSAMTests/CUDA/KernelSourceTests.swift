import XCTest
@testable import RefSAMCUDA

/// The embedded kernel text is the files in Sources/RefSAMCUDA/Kernels.
final class KernelSourceTests: XCTestCase {
    func testEmbeddedTextIsTheKernelFiles() throws {
        let dir = Repo.root.appendingPathComponent("Sources/RefSAMCUDA/Kernels")
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".cu") || $0.hasSuffix(".cuh") }
        XCTAssertEqual(Set(onDisk), Set(CUDAKernelSource.files.map(\.name)), "every kernel file is embedded, and only those")
        for (name, text) in CUDAKernelSource.files {
            XCTAssertEqual(text, try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8), name)
        }
        XCTAssertEqual(CUDAKernelSource.kernelNames.count, 35)
        XCTAssertEqual(Set(CUDAKernelSource.kernelNames).count, CUDAKernelSource.kernelNames.count, "kernel names are unique")
    }
}
