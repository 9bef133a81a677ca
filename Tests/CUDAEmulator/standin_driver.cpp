// A stand-in for the CUDA driver library (libcuda.so.1), for machines without a GPU:
// the functions of the driver API the CUDA backend calls, with "device" memory in host
// memory and kernels run by the emulator. Loaded through CUDA_DRIVER_LIBRARY, it lets
// the whole host path (compile with NVRTC, load the module, allocate, launch, copy back)
// run end to end. Modules must be CUBIN (ELF) or PTX images, as NVRTC makes them; their
// kernels are looked up by name in the emulator.
//
// It also counts what a real driver would carry over the bus (standin_counters), so tests
// can check that a step uploads its batch once and copies nothing back until it ends.
#include "emulator.h"
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void* CUcontext;
typedef void* CUmodule;
typedef void* CUfunction;
typedef void* CUstream;

namespace {
enum {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, INVALID_CONTEXT = 201, NOT_FOUND = 500, LAUNCH_FAILED = 719
};
bool initialized = false;
int contextToken = 0;
std::set<void*> allocations;
unsigned long long uploads = 0, downloads = 0, uploadBytes = 0, downloadBytes = 0, launches = 0;
std::string lastLaunchError;
int moduleToken = 0;   // every module is the emulator's registry
}

extern "C" {

CUresult cuInit(unsigned flags) { (void)flags; initialized = true; return SUCCESS; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    if (!initialized) return NOT_INITIALIZED;
    if (ordinal != 0) return INVALID_DEVICE;
    *d = 0; return SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    (void)d; std::snprintf(name, (size_t)len, "%s", "CPU emulator (stand-in libcuda)"); return SUCCESS;
}
// 75/76: compute capability major/minor (reported as 9.0); 16: multiprocessors.
CUresult cuDeviceGetAttribute(int* v, int attribute, CUdevice d) {
    (void)d;
    switch (attribute) {
    case 75: *v = 9; return SUCCESS;
    case 76: *v = 0; return SUCCESS;
    case 16: *v = 4; return SUCCESS;
    default: *v = 0; return SUCCESS;
    }
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
    if (!initialized) return NOT_INITIALIZED;
    if (d != 0) return INVALID_DEVICE;
    *c = &contextToken; return SUCCESS;
}
CUresult cuCtxSetCurrent(CUcontext c) { return c == &contextToken ? SUCCESS : INVALID_CONTEXT; }

CUresult cuModuleLoadDataEx(CUmodule* m, const void* image, unsigned n, void* options, void** values) {
    (void)n; (void)options; (void)values;
    const unsigned char* p = (const unsigned char*)image;
    bool elf = p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F';
    bool ptx = std::strstr((const char*)image, ".entry") != nullptr;
    if (!elf && !ptx) return INVALID_IMAGE;
    *m = &moduleToken; return SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
    (void)m;
    for (int i = 0; i < emu_kernel_count(); ++i) {
        if (std::strcmp(emu_kernel_name(i), name) == 0) { *f = (void*)emu_kernel_name(i); return SUCCESS; }
    }
    return NOT_FOUND;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    // Filled with a signalling pattern, as device memory is not zeroed: a kernel that reads
    // what nobody wrote gets NaN-like garbage, not a lucky zero.
    void* q = std::malloc(bytes ? bytes : 1);
    if (!q) return OUT_OF_MEMORY;
    std::memset(q, 0xff, bytes);
    allocations.insert(q);
    *p = (CUdeviceptr)q; return SUCCESS;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
    if (!allocations.erase((void*)p)) return INVALID_VALUE;
    std::free((void*)p); return SUCCESS;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    ++uploads; uploadBytes += bytes; std::memcpy((void*)dst, src, bytes); return SUCCESS;
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    ++downloads; downloadBytes += bytes; std::memcpy(dst, (const void*)src, bytes); return SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned sharedBytes, CUstream stream, void** params, void** extra) {
    (void)sharedBytes; (void)stream; (void)extra;
    ++launches;
    int r = emu_launch((const char*)f, gx, gy, gz, bx, by, bz, params);
    if (r != 0) { lastLaunchError = emu_last_error(); return r == 500 ? NOT_FOUND : LAUNCH_FAILED; }
    return SUCCESS;
}

CUresult cuGetErrorString(CUresult e, const char** s) {
    switch (e) {
    case SUCCESS: *s = "no error"; break;
    case INVALID_VALUE: *s = "invalid argument"; break;
    case OUT_OF_MEMORY: *s = "out of memory"; break;
    case NOT_INITIALIZED: *s = "initialization error"; break;
    case INVALID_DEVICE: *s = "invalid device ordinal"; break;
    case INVALID_IMAGE: *s = "device kernel image is invalid"; break;
    case INVALID_CONTEXT: *s = "invalid device context"; break;
    case NOT_FOUND: *s = "named symbol not found"; break;
    case LAUNCH_FAILED: *s = lastLaunchError.c_str(); break;
    default: *s = "unknown error"; break;
    }
    return SUCCESS;
}

// Test hooks (not part of the driver API).
void standin_counters(unsigned long long* out) {
    out[0] = uploads; out[1] = uploadBytes; out[2] = downloads; out[3] = downloadBytes; out[4] = launches;
}

}  // extern "C"
