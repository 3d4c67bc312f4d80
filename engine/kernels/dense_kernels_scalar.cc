// The float kernels for the scalar path (flags in engine/CMakeLists.txt).
#define BEEX_DENSE_ISA dense_scalar
#include "engine/kernels/dense_kernels.inc"
