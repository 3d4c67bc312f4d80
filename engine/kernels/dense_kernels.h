#ifndef BEEX_ENGINE_KERNELS_DENSE_KERNELS_H_
#define BEEX_ENGINE_KERNELS_DENSE_KERNELS_H_

// The float kernels behind attention.h and rowwise.h, once per ISA. The
// bodies are one source (dense_kernels.inc) compiled three times with
// different -m flags; the engine runs the best build this CPU supports
// (bgemm::BestIsa). They do not follow bgemm::ForceIsa or
// BEEX_BGEMM_ISA: forcing a binary GEMM path then changes no float rounding,
// so whole-model results stay bit-identical across GEMM paths
// (quant_golden_kernel_test); dense_kernel_test runs every build.
// Not GCC's target_clones: its ifunc resolvers run before a sanitizer's
// runtime is up and crash sanitized builds.

#include <cstdint>

#include "engine/kernels/bgemm.h"

namespace beex {

// Keys per block of the attention kernel: one AVX-512 register of floats.
inline constexpr int64_t kKeyBlock = 16;
// s rounded up to whole key blocks: the attention kernel's scratch sizes.
inline int64_t PaddedKeys(int64_t s) {
  return (s + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
}
// Queries the attention kernel computes at once.
inline constexpr int64_t kQueryBlock = 8;
// Scratch floats of the attention kernel's scores: kQueryBlock rows of
// PaddedKeys(s).
inline int64_t ScoreScratch(int64_t s) { return kQueryBlock * PaddedKeys(s); }

struct DenseKernels {
  // Self-attention of one sample (see attention.h); kt holds [dh,
  // PaddedKeys(s)] and p ScoreScratch(s) floats of scratch.
  void (*attend_sample)(const float* qkv, int64_t s, int64_t h, int64_t heads,
                        float* ctx, float* kt, float* p);
  // LayerNorm of one row of width h, in place.
  void (*normalize_row)(float* row, int64_t h, const float* gamma,
                        const float* beta, float eps);
  // One row of the selective learn-forget gate (see rowwise.h).
  void (*gate_row)(const float* gc, int64_t f, float* out);
  // Per-token symmetric int8 of one row (QuantizeRowsInt8 in ops.h), stored
  // as u = q + 128; returns the row's scale.
  float (*quantize_row_u8)(const float* x, int64_t k, uint8_t* u);
  // The int8 path's epilogue of one row: y = int8_gemm::Epilogue(acc, offset,
  // alpha, scale, bias) (+ residual, which may be null).
  void (*int8_epilogue_row)(const int32_t* acc, int64_t n,
                            const int32_t* offset, const float* alpha,
                            float scale, const float* bias,
                            const float* residual, float* y);
};

// The build for `isa`, which must be supported (bgemm::IsaSupported).
const DenseKernels& DenseKernelsFor(bgemm::Isa isa);
// The best build this CPU runs.
const DenseKernels& ActiveDenseKernels();

namespace dense_scalar {
extern const DenseKernels kKernels;
}
namespace dense_avx2 {
extern const DenseKernels kKernels;
}
namespace dense_avx512 {
extern const DenseKernels kKernels;
}

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_DENSE_KERNELS_H_
