#define REAL double
#define SUFFIX f64
#include "kernels.inc"
