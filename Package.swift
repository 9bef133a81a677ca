// swift-tools-version:5.10
// A pure-Swift reference implementation of SAM training (Shin et al., UAI 2025).
// No package dependencies: only the standard library, Foundation, Dispatch and Glibc.
import PackageDescription

// Release builds drop bounds checks in the kernels (`-Ounchecked`); the debug build
// used by `swift test` keeps every check.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "SAMReference",
    products: [
        .library(name: "RefTensor", targets: ["RefTensor"]),
        .library(name: "RefSAM", targets: ["RefSAM"]),
        .executable(name: "ref-run", targets: ["ref-run"]),
    ],
    targets: [
        .target(name: "RefTensor", swiftSettings: kernelSettings),
        .target(name: "RefSAM", dependencies: ["RefTensor"], swiftSettings: kernelSettings),
        .executableTarget(name: "ref-run", dependencies: ["RefTensor", "RefSAM"], swiftSettings: kernelSettings),
        .testTarget(name: "RefTensorTests", dependencies: ["RefTensor"], exclude: ["Resources"]),
        .testTarget(name: "RefSAMTests", dependencies: ["RefSAM", "RefTensor"], exclude: ["Resources"]),
    ]
)
