// The float kernels for the avx512 path (flags in engine/CMakeLists.txt).
#define BEEX_DENSE_ISA dense_avx512
#include "engine/kernels/dense_kernels.inc"
