// swift-tools-version:5.10
// A pure-Swift reference implementation of SAM training (Shin et al., UAI 2025).
// No package dependencies: only the standard library, Foundation, Dispatch and Glibc.
import PackageDescription

// No unsafe flags, so another package can depend on this one by version. The hot
// loops use wrapping arithmetic (`&+`, `&*`) and pointers where it matters, so plain
// `-O` is as fast as `-Ounchecked` was (README, "Performance"). CPU-specific code
// (`-target-cpu native`, `-DREF_FMA`) comes from the command line (Makefile), never
// from here.
let kernelSettings: [SwiftSetting] = []

/// RefSAM is built in layers, one module per folder of Sources/RefSAM, each importing
/// only the layers listed before it (the compiler enforces the order):
///   Config -> Params -> Data -> Models -> Training -> Checkpoint -> Run -> Fixtures,
/// and Experiments (sweeps, sharpness, convergence, figures) on top of Run.
/// The `RefSAM` module re-exports them all.
func layer(_ folder: String, _ dependencies: [Target.Dependency]) -> Target {
    .target(name: "RefSAM" + folder, dependencies: dependencies, path: "Sources/RefSAM/" + folder, swiftSettings: kernelSettings)
}

let package = Package(
    name: "SAMReference",
    products: [
        .library(name: "RefTensor", targets: ["RefTensor"]),
        .library(name: "RefSAM", targets: ["RefSAM"]),
        .executable(name: "ref-run", targets: ["ref-run"]),
        .executable(name: "sam-step-example", targets: ["SAMStepExample"]),
    ],
    targets: [
        // One C header: a cache prefetch for the GEMM driver (Swift has none of its own).
        .target(name: "RefPrefetch"),
        .target(name: "RefTensor", dependencies: ["RefPrefetch"], swiftSettings: kernelSettings),
        layer("Config", []),
        layer("Params", ["RefTensor"]),
        layer("Data", ["RefTensor", "RefSAMConfig"]),
        layer("Models", ["RefTensor", "RefSAMConfig", "RefSAMParams"]),
        layer("Training", ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMData", "RefSAMModels"]),
        layer("Checkpoint", ["RefTensor", "RefSAMParams", "RefSAMTraining"]),
        layer("Run", ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMData", "RefSAMModels", "RefSAMTraining", "RefSAMCheckpoint"]),
        layer("Fixtures", ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMData", "RefSAMModels", "RefSAMTraining",
                           "RefSAMCheckpoint", "RefSAMRun"]),
        layer("Experiments", ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMData", "RefSAMModels", "RefSAMTraining",
                              "RefSAMCheckpoint", "RefSAMRun"]),
        .target(name: "RefSAM", dependencies: ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMData", "RefSAMModels",
                                               "RefSAMTraining", "RefSAMCheckpoint", "RefSAMRun", "RefSAMFixtures",
                                               "RefSAMExperiments"],
                path: "Sources/RefSAM/RefSAM", swiftSettings: kernelSettings),
        // The optional CUDA backend: its code is compiled only under -DCUDA (`make cuda`);
        // the kernel files are embedded as text for NVRTC.
        .target(name: "RefSAMCUDA", dependencies: ["RefTensor", "RefSAMConfig", "RefSAMParams", "RefSAMModels", "RefSAMTraining"],
                path: "Sources/RefSAMCUDA",
                resources: ["common.cuh", "gemm.cu", "conv.cu", "batchnorm.cu", "elementwise.cu", "pooling.cu", "loss.cu",
                            "optimizer.cu"].map { .embedInCode("Kernels/" + $0) },
                swiftSettings: kernelSettings),
        .executableTarget(name: "ref-run", dependencies: ["RefTensor", "RefSAM", "RefSAMCUDA"], swiftSettings: kernelSettings),
        .executableTarget(name: "SAMStepExample", dependencies: ["RefSAM"], path: "Examples/SAMStep"),
        .testTarget(name: "RefTensorTests", dependencies: ["RefTensor"], exclude: ["Resources"]),
        .testTarget(name: "RefSAMTests", dependencies: ["RefSAM", "RefTensor", "RefSAMCUDA", "ref-run"], exclude: ["Resources"]),
    ]
)
