import Foundation
import RefSAM
import RefSAMCUDA

/// `--device cpu|cuda`: where train, verify, golden and bench take their steps. `cuda`
/// needs a build with the CUDA backend (`make cuda`); without one it is a usage error.
enum DeviceOption: String {
    case cpu, cuda

    static func parse(_ args: Arguments) throws -> DeviceOption {
        let value = args.options["device"] ?? "cpu"
        guard let d = DeviceOption(rawValue: value) else { throw UsageError("--device must be cpu or cuda, got '\(value)'") }
        if d == .cuda && !CUDABackend.isCompiled { throw CommandError(CUDABackend.notCompiledMessage, status: 2) }
        return d
    }

    /// The step function of this device for golden (nil: this reference's own).
    func stepFunction<T: RefScalar>(_: T.Type) -> StepFunction<T>? {
        #if CUDA
        if self == .cuda { return { try CUDATrainer<T>.run($0, state: $1, images: $2, labels: $3, $4) } }
        #endif
        return nil
    }

    /// The resident trainer of this device for train (nil: steps here).
    func residentTrainer<T: RefScalar>(_: T.Type) -> ResidentTrainerFactory<T>? {
        #if CUDA
        if self == .cuda { return CUDATrainer<T>.factory }
        #endif
        return nil
    }
}
