// The float kernels for the avx2 path (flags in engine/CMakeLists.txt).
#define BEEX_DENSE_ISA dense_avx2
#include "engine/kernels/dense_kernels.inc"
