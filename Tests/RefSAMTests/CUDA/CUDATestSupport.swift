import Foundation
import XCTest

/// Where the tests find the CPU emulator (built once per test process from
/// Tests/CUDAEmulator with the toolchain's clang++) and NVRTC.
enum CUDATestSupport {
    /// This process's directory for the emulator library, removed when the process exits.
    static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cuda-standin-\(UUID().uuidString)")
        atexit { try? FileManager.default.removeItem(at: CUDATestSupport.directory) }
        return dir
    }()

    /// The emulator with the stand-in driver (Tests/CUDAEmulator/build.sh), built once per
    /// test process, and opened (RTLD_GLOBAL) under the path the backend will dlopen.
    static let standIn: Result<(path: String, handle: UnsafeMutableRawPointer), Error> = Result {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let out = directory.appendingPathComponent("libcuda-standin.so").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["bash", Repo.path("Tests/CUDAEmulator/build.sh"), out]
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        let log = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw StandInError(message: "Tests/CUDAEmulator/build.sh failed:\n\(log)") }
        guard let h = dlopen(out, RTLD_NOW | RTLD_GLOBAL) else {
            throw StandInError(message: "dlopen \(out): \(String(cString: dlerror()))")
        }
        return (out, h)
    }

    /// The stand-in driver's path, for a ref-run process.
    static func standInLibraryPath() throws -> String { try standIn.get().path }

    struct StandInError: Error, CustomStringConvertible { let message: String; var description: String { message } }

    /// The emulator's handle (fails the test if it cannot be built).
    static func emulator() throws -> UnsafeMutableRawPointer { try standIn.get().handle }

    /// A function of the emulator library by name.
    static func symbol<F>(_ name: String, as: F.Type) throws -> F {
        guard let p = dlsym(try emulator(), name) else { throw StandInError(message: "the emulator has no \(name)") }
        return unsafeBitCast(p, to: F.self)
    }

    /// NVRTC's path: NVRTC_LIBRARY, else the copy .ci/install-nvrtc puts in .cache/nvrtc.
    static var nvrtcPath: String? {
        if let p = ProcessInfo.processInfo.environment["NVRTC_LIBRARY"], FileManager.default.fileExists(atPath: p) { return p }
        let local = Repo.path(".cache/nvrtc/nvidia/cu13/lib/libnvrtc.so.13")
        return FileManager.default.fileExists(atPath: local) ? local : nil
    }

    /// NVRTC's path, or a skip (a failure when REF_REQUIRE_NVRTC=1, as CI sets it).
    static func requireNVRTC() throws -> String {
        if let p = nvrtcPath { return p }
        let why = "NVRTC not found (set NVRTC_LIBRARY, or run .ci/install-nvrtc)"
        if ProcessInfo.processInfo.environment["REF_REQUIRE_NVRTC"] == "1" {
            XCTFail(why + " and REF_REQUIRE_NVRTC=1")
            throw StandInError(message: why)
        }
        throw XCTSkip(why)
    }

    /// Points the CUDA backend at the stand-in driver and NVRTC (before its first use).
    static func useStandInDevice() throws {
        let nvrtc = try requireNVRTC()
        setenv("CUDA_DRIVER_LIBRARY", try standIn.get().path, 1)
        setenv("NVRTC_LIBRARY", nvrtc, 1)
    }
}
