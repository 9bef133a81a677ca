import Foundation

/// The optional CUDA backend: the whole SAM/SGD step on an NVIDIA GPU, compiled only when
/// the build passes `-DCUDA` (`make cuda`, or `swift build -Xswiftc -DCUDA`). Without it
/// this module holds only what lets a command say so.
///
/// Nothing here links against CUDA: the driver (`libcuda.so.1`) and NVRTC
/// (`libnvrtc.so.13`) are opened at run time, from `CUDA_DRIVER_LIBRARY` and
/// `NVRTC_LIBRARY` when set. The kernels are the CUDA C files in `Kernels/`, compiled by
/// NVRTC once per process for the device's own architecture.
public enum CUDABackend {
    /// Whether this build has the CUDA backend (`-DCUDA`).
    public static var isCompiled: Bool {
        #if CUDA
        return true
        #else
        return false
        #endif
    }

    /// The error a command gives for `--device cuda` in a build without the backend.
    public static let notCompiledMessage =
        "--device cuda: this ref-run was built without the CUDA backend; build it with `make cuda` " +
        "(swift build -c release -Xswiftc -DCUDA) and run it on a machine with an NVIDIA driver"
}

/// A failure of the CUDA backend, naming what is missing or which call failed.
public enum CUDAError: Error, CustomStringConvertible, Equatable {
    /// A library could not be opened (the path tried and dlerror's reason).
    case libraryNotFound(what: String, tried: [String], reason: String, hint: String)
    /// A library lacks a function the backend needs.
    case missingSymbol(library: String, symbol: String)
    /// A driver call failed.
    case driver(call: String, code: Int32, message: String)
    /// NVRTC refused the kernels (with its log).
    case compile(architecture: String, log: String)
    /// The step cannot run on the device (an op or configuration the backend lacks).
    case unsupported(String)

    /// One line or a short paragraph a user can act on.
    public var description: String {
        switch self {
        case let .libraryNotFound(what, tried, reason, hint):
            return "CUDA: cannot open \(what) (tried \(tried.joined(separator: ", "))): \(reason). \(hint)"
        case let .missingSymbol(library, symbol):
            return "CUDA: \(library) has no function \(symbol) (too old a driver or NVRTC?)"
        case let .driver(call, code, message):
            return "CUDA: \(call) failed with error \(code): \(message)"
        case let .compile(arch, log):
            return "CUDA: NVRTC could not compile the kernels for \(arch):\n\(log)"
        case let .unsupported(what):
            return "CUDA backend: \(what)"
        }
    }
}
