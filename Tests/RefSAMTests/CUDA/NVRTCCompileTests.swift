#if CUDA
import XCTest
@testable import RefSAMCUDA

/// Every kernel compiles to CUBIN for sm_80 (A100) and sm_90 (H100/H200), in both types,
/// with no warning and no register spill (ptxas's own report). Needs NVRTC only, no GPU.
final class NVRTCCompileTests: XCTestCase {
    func testEveryKernelCompilesForSm80AndSm90WithoutWarningsOrSpills() throws {
        let path = try CUDATestSupport.requireNVRTC()
        let nvrtc = try NVRTC(environment: ["NVRTC_LIBRARY": path])
        XCTAssertGreaterThanOrEqual(nvrtc.version.major, 12)
        for type in CUDAKernelSource.ElementType.allCases {
            for arch in ["sm_80", "sm_90"] {
                let out = try nvrtc.compile(CUDAKernelSource.program(for: type), name: "sam_kernels.cu", architecture: arch,
                                            options: ["--ptxas-options=-v"])
                XCTAssertEqual(Array(out.image.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "\(arch) \(type): CUBIN is an ELF image")
                let lines = out.log.split(separator: "\n")
                XCTAssertTrue(lines.filter { $0.lowercased().contains("warning") }.isEmpty, "\(arch) \(type) warnings:\n\(out.log)")
                for k in CUDAKernelSource.kernelNames {
                    XCTAssertTrue(out.log.contains("entry function '\(k)_\(type.rawValue)'"), "\(arch): ptxas reports \(k)_\(type.rawValue)")
                }
                let spills = lines.filter { $0.contains("spill") && !$0.contains("0 bytes spill stores, 0 bytes spill loads") }
                XCTAssertTrue(spills.isEmpty, "\(arch) \(type) register spills:\n\(spills.joined(separator: "\n"))")
                XCTAssertEqual(lines.filter { $0.contains("0 bytes spill stores, 0 bytes spill loads") }.count,
                               CUDAKernelSource.kernelNames.count, "\(arch) \(type): one spill report per kernel")
            }
        }
    }

    func testPTXFallbackCompiles() throws {
        let nvrtc = try NVRTC(environment: ["NVRTC_LIBRARY": try CUDATestSupport.requireNVRTC()])
        let out = try nvrtc.compile(CUDAKernelSource.program(for: .float32), name: "sam_kernels.cu", architecture: "compute_90")
        XCTAssertTrue(out.isPTX)
        XCTAssertTrue(String(decoding: out.image, as: UTF8.self).contains(".entry gemm_f32"))
    }

    func testMissingLibrariesAreNamed() throws {
        XCTAssertThrowsError(try NVRTC(environment: ["NVRTC_LIBRARY": "/nonexistent/libnvrtc.so.13"])) { e in
            XCTAssertTrue("\(e)".contains("cannot open NVRTC (tried /nonexistent/libnvrtc.so.13)"), "\(e)")
        }
        XCTAssertThrowsError(try DriverAPI(environment: ["CUDA_DRIVER_LIBRARY": "/nonexistent/libcuda.so.1"])) { e in
            XCTAssertTrue("\(e)".contains("cannot open the CUDA driver (tried /nonexistent/libcuda.so.1)"), "\(e)")
            XCTAssertTrue("\(e)".contains("Is an NVIDIA driver installed?"), "\(e)")
        }
    }
}
#endif
