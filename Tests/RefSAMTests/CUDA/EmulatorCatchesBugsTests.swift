import XCTest
import RefTensor
@testable import RefSAMCUDA

/// The emulator can fail a kernel: three bugs planted in the tiled GEMM (a dropped
/// barrier, a barrier only some threads reach, a wrong index) are each caught, while the
/// kernel as written agrees with the naive loop bit for bit.
final class EmulatorCatchesBugsTests: XCTestCase {
    /// The GEMM text with each plant, compiled into one emulator library of its own
    /// (symbols hidden and bound inside it, so they do not mix with the stand-in's).
    func buildPlanted() throws -> (handle: UnsafeMutableRawPointer, variants: [String]) {
        let gemm = CUDAKernelSource.files.first { $0.name == "gemm.cu" }!.text
        let barrier = "        __syncthreads();\n        int kn"
        let load = "A[r * a_m + kr * a_k]"
        let plants: [(String, String)] = [
            ("asis", gemm),
            ("dropped", gemm.replacingOccurrences(of: barrier, with: "        int kn")),
            ("divergent", gemm.replacingOccurrences(of: barrier, with: "        if (tx < 8) __syncthreads();\n        int kn")),
            ("index", gemm.replacingOccurrences(of: load, with: "A[r * a_m + k0 * a_k]")),
        ]
        for (name, text) in plants.dropFirst() { XCTAssertNotEqual(text, gemm, "the \(name) plant changed nothing: gemm.cu moved on") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("planted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let emulator = Repo.path("Tests/CUDAEmulator")
        var unit = "#include \"\(emulator)/cuda_emulator.h\"\n#include \"\(emulator)/registry.h\"\n#define REAL float\n"
        unit += CUDAKernelSource.files.first { $0.name == "common.cuh" }!.text
        for (name, text) in plants {
            unit += "#undef SUFFIX\n#define SUFFIX \(name)\n#undef GEMM_TILE\n" + text
            unit += "\nstatic EmuRegistration reg_\(name)(\"gemm_\(name)\", &emu_trampoline<&gemm_\(name)>);\n"
        }
        let source = dir.appendingPathComponent("planted.cpp")
        try unit.write(to: source, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("libplanted.so").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["clang++", "-std=c++17", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-Wl,-Bsymbolic", source.path, emulator + "/emulator.cpp", "-o", out]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "compiling the planted GEMMs")
        guard let h = dlopen(out, RTLD_NOW | RTLD_LOCAL) else { throw CUDATestSupport.StandInError(message: String(cString: dlerror())) }
        return (h, plants.map(\.0))
    }

    func testPlantedBarrierAndIndexBugsAreCaught() throws {
        let (h, variants) = try buildPlanted()
        let (m, n, k) = (71, 69, 40)                   // three K stages, partial tiles on every side
        var rng = RandomGenerator(seed: 5)
        let a: Tensor<Float> = rng.normalTensor([m, k]), b: Tensor<Float> = rng.normalTensor([k, n])
        var want = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s: Float = 0; for l in 0..<k { s += a.scalars[i * k + l] * b.scalars[l * n + j] }; want[i * n + j] = s } }

        let setOrder = unsafeBitCast(dlsym(h, "emu_set_order")!, to: (@convention(c) (Int32) -> Void).self)
        // Threads between barriers in index order, then in reverse: a race shows in one or the other.
        for order: Int32 in [0, 1] {
        setOrder(order)
        var outcome: [String: (code: Int32, error: String, matches: Bool)] = [:]
        for v in variants {
            let e = try EmulatedKernelTests.Emulator<Float>(library: h, suffix: v), mem = EmulatedKernelTests.Buffers()
            let c = mem.of([Float](repeating: .nan, count: m * n))
            var error = ""
            do {
                try e.launch("gemm", grid: (2, 2), block: (16, 16),
                             [.int(m), .int(n), .int(k), .buffer(mem.of(a.scalars)), .long(k), .long(1), .buffer(mem.of(b.scalars)),
                              .long(n), .long(1), .buffer(c), .long(n), .int(0)])
            } catch let failure { error = "\(failure)" }
            outcome[v] = (error.isEmpty ? 0 : 1, error, error.isEmpty && mem.read(c, m * n, Float.self) == want)
        }
        XCTAssertEqual(outcome["asis"]?.code, 0)
        XCTAssertTrue(outcome["asis"]?.matches ?? false, "the GEMM as written is bit-identical to the naive loop")
        XCTAssertEqual(outcome["dropped"]?.code, 0, "a dropped barrier still runs")
        XCTAssertFalse(outcome["dropped"]?.matches ?? true, "a dropped barrier gives wrong values")
        XCTAssertNotEqual(outcome["divergent"]?.code, 0, "a barrier some threads skip fails the launch")
        XCTAssertTrue(outcome["divergent"]?.error.contains("divergent barrier") ?? false, outcome["divergent"]?.error ?? "")
        XCTAssertFalse(outcome["index"]?.matches ?? true, "a wrong index gives wrong values")
        }
    }
}
