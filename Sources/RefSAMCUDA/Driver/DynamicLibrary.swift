#if CUDA
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A shared library opened with dlopen, whose functions are looked up by name.
final class DynamicLibrary: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let path: String

    /// Opens the first of `candidates` that loads; the error names every one tried.
    init(_ what: String, candidates: [String], hint: String) throws {
        var reason = ""
        for path in candidates {
            if let h = dlopen(path, RTLD_NOW | RTLD_GLOBAL) {
                handle = h
                self.path = path
                return
            }
            reason = dlerror().map { String(cString: $0) } ?? "unknown"
        }
        throw CUDAError.libraryNotFound(what: what, tried: candidates, reason: reason, hint: hint)
    }

    /// The function `name` as a value of the C function type `F`.
    func function<F>(_ name: String, as: F.Type = F.self) throws -> F {
        guard let p = dlsym(handle, name) else { throw CUDAError.missingSymbol(library: path, symbol: name) }
        return unsafeBitCast(p, to: F.self)
    }
}
#endif
