#define REAL float
#define SUFFIX f32
#include "kernels.inc"
