#if CUDA
import Foundation

/// NVRTC, the runtime CUDA C compiler, bound by name from `libnvrtc.so.13` (or
/// `NVRTC_LIBRARY`). It compiles with no GPU and no driver, so the kernels' compile check
/// runs on any machine that has it (`pip install nvidia-cuda-nvrtc`).
public final class NVRTC: @unchecked Sendable {
    typealias Result = Int32
    let library: DynamicLibrary
    let create: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
                                UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    let compileProgram: @convention(c) (OpaquePointer?, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Result
    let logSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    let log: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    let cubinSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    let cubin: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    let ptxSize: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>) -> Result
    let ptx: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>) -> Result
    let destroy: @convention(c) (UnsafeMutablePointer<OpaquePointer?>) -> Result
    let errorString: @convention(c) (Result) -> UnsafePointer<CChar>?
    let versionFunction: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Result

    /// The library paths tried: `NVRTC_LIBRARY` when set, else the usual sonames.
    static func candidates(_ environment: [String: String]) -> [String] {
        environment["NVRTC_LIBRARY"].map { [$0] } ?? ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]
    }

    /// Opens NVRTC. `libnvrtc.so.13` opens its builtins library by bare name, so when the
    /// path is explicit the builtins beside it are loaded first (by absolute path).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let candidates = Self.candidates(environment)
        if let path = environment["NVRTC_LIBRARY"] {
            let dir = (path as NSString).deletingLastPathComponent
            let builtins = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                .filter { $0.hasPrefix("libnvrtc-builtins.so") && !$0.contains(".alt.") }.sorted()
            for b in builtins { _ = try? DynamicLibrary("NVRTC's builtins", candidates: [dir + "/" + b], hint: "") }
        }
        library = try DynamicLibrary("NVRTC", candidates: candidates,
                                     hint: "Install it (pip install nvidia-cuda-nvrtc, or the CUDA toolkit) and set " +
                                           "NVRTC_LIBRARY to its libnvrtc.so.13.")
        create = try library.function("nvrtcCreateProgram")
        compileProgram = try library.function("nvrtcCompileProgram")
        logSize = try library.function("nvrtcGetProgramLogSize")
        log = try library.function("nvrtcGetProgramLog")
        cubinSize = try library.function("nvrtcGetCUBINSize")
        cubin = try library.function("nvrtcGetCUBIN")
        ptxSize = try library.function("nvrtcGetPTXSize")
        ptx = try library.function("nvrtcGetPTX")
        destroy = try library.function("nvrtcDestroyProgram")
        errorString = try library.function("nvrtcGetErrorString")
        versionFunction = try library.function("nvrtcVersion")
    }

    /// NVRTC's version, e.g. (13, 0).
    public var version: (major: Int, minor: Int) {
        var major: Int32 = 0, minor: Int32 = 0
        _ = versionFunction(&major, &minor)
        return (Int(major), Int(minor))
    }

    /// What a compile gives: the image (CUBIN for `sm_XY`, PTX for `compute_XY`) and the log.
    public struct Output: Sendable {
        /// CUBIN (an ELF file) or PTX text, NUL-terminated.
        public let image: [UInt8]
        /// Whether `image` is PTX (to be compiled by the driver at load time).
        public let isPTX: Bool
        /// NVRTC's log: warnings, and with `--ptxas-options=-v` each kernel's registers and spills.
        public let log: String
    }

    /// Compiles `source` for `architecture` (`sm_90`: CUBIN; `compute_90`: PTX) with `options`.
    public func compile(_ source: String, name: String, architecture: String, options: [String] = []) throws -> Output {
        var program: OpaquePointer? = nil
        try check(create(&program, source, name, 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = destroy(&program) }
        let all = ["--gpu-architecture=\(architecture)", "--std=c++17"] + options
        let cStrings = all.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let result = cStrings.map { UnsafePointer($0) }.withUnsafeBufferPointer { compileProgram(program, Int32(all.count), $0.baseAddress) }
        var size = 0
        _ = logSize(program, &size)
        var logBytes = [CChar](repeating: 0, count: max(size, 1))
        _ = log(program, &logBytes)
        let logText = String(cString: logBytes)
        guard result == 0 else {
            throw CUDAError.compile(architecture: architecture, log: "\(message(result))\n\(logText)")
        }
        let isPTX = architecture.hasPrefix("compute_")
        var imageSize = 0
        try check(isPTX ? ptxSize(program, &imageSize) : cubinSize(program, &imageSize), "nvrtcGet(CUBIN|PTX)Size")
        var image = [CChar](repeating: 0, count: imageSize)
        try check(isPTX ? ptx(program, &image) : cubin(program, &image), "nvrtcGet(CUBIN|PTX)")
        return Output(image: image.map { UInt8(bitPattern: $0) }, isPTX: isPTX, log: logText)
    }

    func message(_ r: Result) -> String { errorString(r).map { String(cString: $0) } ?? "NVRTC error \(r)" }

    func check(_ r: Result, _ call: String) throws {
        guard r == 0 else { throw CUDAError.driver(call: call, code: r, message: message(r)) }
    }
}
#endif
