import Foundation

/// The CUDA C text of every kernel (the files in `Kernels/`, embedded in the binary at
/// build time), as NVRTC compiles it: one program per element type.
public enum CUDAKernelSource {
    /// The kernel files in the order they are concatenated (common.cuh first).
    public static let files: [(name: String, text: String)] = [
        ("common.cuh", PackageResources.common_cuh), ("gemm.cu", PackageResources.gemm_cu),
        ("conv.cu", PackageResources.conv_cu), ("batchnorm.cu", PackageResources.batchnorm_cu),
        ("elementwise.cu", PackageResources.elementwise_cu), ("pooling.cu", PackageResources.pooling_cu),
        ("loss.cu", PackageResources.loss_cu), ("optimizer.cu", PackageResources.optimizer_cu),
    ].map { ($0.0, String(decoding: $0.1, as: UTF8.self)) }

    /// The element types the kernels are compiled for, and the suffix of their names.
    public enum ElementType: String, Sendable, CaseIterable {
        case float32 = "f32", float64 = "f64"
        /// The C type (`float`, `double`).
        public var cType: String { self == .float32 ? "float" : "double" }
    }

    /// The program NVRTC compiles for `type`: REAL and SUFFIX defined, then every file.
    public static func program(for type: ElementType) -> String {
        "#define REAL \(type.cType)\n#define SUFFIX \(type.rawValue)\n" + files.map { "// ---- \($0.name)\n" + $0.text }.joined(separator: "\n")
    }

    /// Every kernel's name without its type suffix, in file order, read from the
    /// `KERNEL(name)` definitions.
    public static var kernelNames: [String] {
        files.flatMap { file in
            file.text.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("KERNEL("), let close = line.firstIndex(of: ")") else { return nil }
                return String(line[line.index(line.startIndex, offsetBy: 7)..<close])
            }
        }
    }
}
