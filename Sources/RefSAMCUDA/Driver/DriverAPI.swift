#if CUDA
import Foundation

/// The CUDA driver API functions the backend calls, bound by name from `libcuda.so.1`
/// (or `CUDA_DRIVER_LIBRARY`). The `_v2` names are the 64-bit ABI; the bare ones are legacy.
final class DriverAPI: @unchecked Sendable {
    typealias Result = Int32
    typealias DevicePointer = UInt64

    let library: DynamicLibrary
    let cuInit: @convention(c) (UInt32) -> Result
    let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Result
    let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Result
    let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Result
    let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> Result
    let cuCtxSetCurrent: @convention(c) (OpaquePointer?) -> Result
    let cuModuleLoadDataEx: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer, UInt32,
                                            UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Result
    let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Result
    let cuMemAlloc: @convention(c) (UnsafeMutablePointer<DevicePointer>, Int) -> Result
    let cuMemFree: @convention(c) (DevicePointer) -> Result
    let cuMemcpyHtoD: @convention(c) (DevicePointer, UnsafeRawPointer, Int) -> Result
    let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer, DevicePointer, Int) -> Result
    let cuLaunchKernel: @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                        UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Result
    let cuGetErrorString: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result

    /// Opens the driver: `CUDA_DRIVER_LIBRARY` when set, else `libcuda.so.1`.
    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let candidates = environment["CUDA_DRIVER_LIBRARY"].map { [$0] } ?? ["libcuda.so.1", "libcuda.so"]
        library = try DynamicLibrary("the CUDA driver", candidates: candidates,
                                     hint: "Is an NVIDIA driver installed? Set CUDA_DRIVER_LIBRARY to its libcuda.so.1, " +
                                           "or to the CPU emulator's stand-in (make cuda-standin) to test without a GPU.")
        cuInit = try library.function("cuInit")
        cuDeviceGet = try library.function("cuDeviceGet")
        cuDeviceGetName = try library.function("cuDeviceGetName")
        cuDeviceGetAttribute = try library.function("cuDeviceGetAttribute")
        cuDevicePrimaryCtxRetain = try library.function("cuDevicePrimaryCtxRetain")
        cuCtxSetCurrent = try library.function("cuCtxSetCurrent")
        cuModuleLoadDataEx = try library.function("cuModuleLoadDataEx")
        cuModuleGetFunction = try library.function("cuModuleGetFunction")
        cuMemAlloc = try library.function("cuMemAlloc_v2")
        cuMemFree = try library.function("cuMemFree_v2")
        cuMemcpyHtoD = try library.function("cuMemcpyHtoD_v2")
        cuMemcpyDtoH = try library.function("cuMemcpyDtoH_v2")
        cuLaunchKernel = try library.function("cuLaunchKernel")
        cuGetErrorString = try library.function("cuGetErrorString")
    }

    /// Throws `CUDAError.driver` naming `call` unless `result` is CUDA_SUCCESS.
    func check(_ result: Result, _ call: String) throws {
        guard result != 0 else { return }
        var message: UnsafePointer<CChar>? = nil
        _ = cuGetErrorString(result, &message)
        throw CUDAError.driver(call: call, code: result, message: message.map { String(cString: $0) } ?? "unknown error")
    }
}
#endif
