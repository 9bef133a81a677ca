#if CUDA
import Foundation
import RefTensor

/// One GPU (device 0) with its primary context, and the kernels compiled for it: the
/// driver is opened and NVRTC run once per process and element type (`shared(_:)`).
public final class CUDADevice: @unchecked Sendable {
    let api: DriverAPI
    /// The device's name, as the driver reports it.
    public let name: String
    /// The architecture the kernels were compiled for (`sm_90`, or `compute_90` when
    /// NVRTC could not target the device and the driver compiles PTX instead).
    public let architecture: String
    /// The element type of the kernels loaded.
    public let elementType: CUDAKernelSource.ElementType
    var functions: [String: OpaquePointer] = [:]

    nonisolated(unsafe) private static var cache: [CUDAKernelSource.ElementType: CUDADevice] = [:]
    private static let lock = NSLock()

    /// The device with the kernels for `type`, set up on first use.
    public static func shared(_ type: CUDAKernelSource.ElementType,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CUDADevice {
        lock.lock(); defer { lock.unlock() }
        if let d = cache[type] { return d }
        let d = try CUDADevice(type, environment: environment)
        cache[type] = d
        return d
    }

    init(_ type: CUDAKernelSource.ElementType, environment: [String: String]) throws {
        elementType = type
        api = try DriverAPI(environment: environment)
        try api.check(api.cuInit(0), "cuInit")
        var device: Int32 = 0
        try api.check(api.cuDeviceGet(&device, 0), "cuDeviceGet(0) (no CUDA device?)")
        var nameBytes = [CChar](repeating: 0, count: 256)
        try api.check(api.cuDeviceGetName(&nameBytes, 256, device), "cuDeviceGetName")
        name = String(cString: nameBytes)
        var major: Int32 = 0, minor: Int32 = 0
        try api.check(api.cuDeviceGetAttribute(&major, 75, device), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)")
        try api.check(api.cuDeviceGetAttribute(&minor, 76, device), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MINOR)")
        var context: OpaquePointer? = nil
        try api.check(api.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain")
        try api.check(api.cuCtxSetCurrent(context), "cuCtxSetCurrent")

        // CUBIN for the device's exact architecture; PTX (compiled by the driver) when
        // this NVRTC does not know it.
        let nvrtc = try NVRTC(environment: environment)
        let source = CUDAKernelSource.program(for: type)
        var arch = "sm_\(major)\(minor)"
        let output: NVRTC.Output
        do {
            output = try nvrtc.compile(source, name: "sam_kernels.cu", architecture: arch)
        } catch CUDAError.compile {
            arch = "compute_\(min(Int(major) * 10 + Int(minor), 90))"
            output = try nvrtc.compile(source, name: "sam_kernels.cu", architecture: arch)
        }
        architecture = arch
        // The module stays loaded for the process (the device is never released).
        var m: OpaquePointer? = nil
        let driver = api
        try output.image.withUnsafeBytes { try driver.check(driver.cuModuleLoadDataEx(&m, $0.baseAddress!, 0, nil, nil), "cuModuleLoadDataEx") }
        for k in CUDAKernelSource.kernelNames {
            var f: OpaquePointer? = nil
            let full = "\(k)_\(type.rawValue)"
            try api.check(api.cuModuleGetFunction(&f, m, full), "cuModuleGetFunction(\(full))")
            functions[k] = f
        }
    }

    // MARK: Memory

    /// Allocates `bytes` of device memory (freed with the buffer).
    func allocate(_ bytes: Int) throws -> DeviceMemory {
        var p: UInt64 = 0
        try api.check(api.cuMemAlloc(&p, max(bytes, 1)), "cuMemAlloc_v2(\(bytes) bytes)")
        return DeviceMemory(device: self, pointer: p)
    }

    func upload(_ source: UnsafeRawBufferPointer, to pointer: UInt64) throws {
        guard source.count > 0 else { return }
        try api.check(api.cuMemcpyHtoD(pointer, source.baseAddress!, source.count), "cuMemcpyHtoD_v2")
    }

    func download(_ pointer: UInt64, into target: UnsafeMutableRawBufferPointer) throws {
        guard target.count > 0 else { return }
        try api.check(api.cuMemcpyDtoH(target.baseAddress!, pointer, target.count), "cuMemcpyDtoH_v2")
    }

    // MARK: Launches

    /// Launches kernel `name` (without suffix) over `grid` blocks of `block` threads.
    func launch(_ name: String, grid: (Int, Int), block: (Int, Int), _ args: [KernelArgument]) throws {
        guard let f = functions[name] else { throw CUDAError.unsupported("no kernel named \(name)") }
        // Each argument in its own 8-byte slot, on the stack (hundreds of launches a step);
        // cuLaunchKernel copies them before returning.
        let r = withUnsafeTemporaryAllocation(byteCount: max(args.count, 1) * 8, alignment: 8) { slots in
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: max(args.count, 1)) { pointers in
                for (i, a) in args.enumerated() {
                    let slot = slots.baseAddress! + i * 8
                    switch a {
                    case let .pointer(p): slot.storeBytes(of: p, as: UInt64.self)
                    case let .int(v): slot.storeBytes(of: v, as: Int32.self)
                    case let .long(v): slot.storeBytes(of: v, as: Int.self)
                    case let .float(v): slot.storeBytes(of: v, as: Float.self)
                    case let .double(v): slot.storeBytes(of: v, as: Double.self)
                    }
                    pointers[i] = slot
                }
                return api.cuLaunchKernel(f, UInt32(grid.0), UInt32(grid.1), 1, UInt32(block.0), UInt32(block.1), 1, 0, nil,
                                          pointers.baseAddress, nil)
            }
        }
        try api.check(r, "cuLaunchKernel(\(name)_\(elementType.rawValue), grid \(grid), block \(block))")
    }

    /// Blocks of 256 threads for an elementwise kernel over `n` values (grid-stride loops
    /// cover any excess), capped so a launch stays small.
    func elementwiseGrid(_ n: Int) -> (Int, Int) { (max(1, min((n + 255) / 256, 4096)), 1) }
}

/// One argument of a kernel launch, in the C type the kernel declares.
enum KernelArgument {
    case pointer(UInt64)
    case int(Int32)
    case long(Int)
    case float(Float)
    case double(Double)
}

/// Device memory, freed when the last reference goes.
final class DeviceMemory: @unchecked Sendable {
    let device: CUDADevice
    let pointer: UInt64
    init(device: CUDADevice, pointer: UInt64) { self.device = device; self.pointer = pointer }
    deinit { _ = device.api.cuMemFree(pointer) }
}
#endif
