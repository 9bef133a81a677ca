// The emulator's C interface (used by the stand-in driver and, through dlsym, by the tests).
#pragma once
// Exported even from a library built with -fvisibility=hidden (the tests build one of
// planted bugs that way, so its symbols cannot mix with the stand-in's).
#define EMU_EXPORT __attribute__((visibility("default")))
#ifdef __cplusplus
extern "C" {
#endif

// Runs kernel `name` (e.g. "gemm_f32") over grid x block with `params` as cuLaunchKernel
// passes them (an array of pointers to each argument). Returns 0, or a nonzero code with
// a message in emu_last_error(): unknown kernel, divergent barrier, bad launch shape.
EMU_EXPORT int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               void** params);
EMU_EXPORT const char* emu_last_error(void);
// 0: threads of a block run in index order between barriers; 1: in reverse order.
EMU_EXPORT void emu_set_order(int order);
// The number of kernels the emulator knows, and the i-th one's name.
EMU_EXPORT int emu_kernel_count(void);
EMU_EXPORT const char* emu_kernel_name(int i);

#ifdef __cplusplus
}
#endif
