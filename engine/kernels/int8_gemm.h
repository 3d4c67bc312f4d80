#ifndef BEEX_ENGINE_KERNELS_INT8_GEMM_H_
#define BEEX_ENGINE_KERNELS_INT8_GEMM_H_

// The int8 path's matrix product on AVX-512 VNNI: acc[m, n] = sum_k u[m, k] *
// w[n, k] for u8 activations and s8 weights, exact in 32 bits.
//
// Why not oneDNN's u8 x s8 matmul (Linear's fallback on CPUs without VNNI):
// the encoder calls it on tiles of a few dozen rows, where each call's setup
// (memory objects, stream, arguments, primitive lookup) and oneDNN 2.6's
// power-of-two primitives (kernels.md) cost as much as the multiply-adds;
// here any row count is one call with no setup. Integer sums are exact, so
// both give the same bits.

#include <cstdint>
#include <span>
#include <vector>

namespace beex::int8_gemm {

// Columns per panel: the 16 32-bit lanes of one AVX-512 vector.
inline constexpr int64_t kPanel = 16;

// Bytes per activation row: k rounded up to whole groups of 4 (the dot
// product VPDPBUSD adds per lane). Pad bytes meet zero weights.
inline int64_t RowBytes(int64_t k) { return (k + 3) / 4 * 4; }

// Weights packed once at load. Panel p, group g holds columns 16p..16p+15,
// k = 4g..4g+3: data[((p * groups + g) * 16 + c) * 4 + i] = w[16p + c, 4g + i],
// so one vector load feeds a VPDPBUSD for 16 columns. Zero past n and k.
// With it, per column and padded to whole panels, what the int8 path's
// epilogue needs (Epilogue below).
struct PackedWeights {
  int64_t n = 0, k = 0, groups = 0, panels = 0;
  std::vector<int8_t> data;
  std::vector<int32_t> offset;
  std::vector<float> alpha, bias;
};

// w: [n, k] row-major; offset, alpha, bias: [n].
PackedWeights Pack(std::span<const int8_t> w, std::span<const int32_t> offset,
                   std::span<const float> alpha, std::span<const float> bias,
                   int64_t n, int64_t k);

// The int8 path's epilogue of one output (before any residual), as every
// kernel computes it: the fused multiply-add is explicit so that no
// compiler's contraction choice changes the rounding.
inline float Epilogue(int32_t acc, int32_t offset, float alpha, float scale,
                      float bias);

// Whether this CPU (and this build) has AVX-512 VNNI.
bool Supported();

// The raw sums, which tests check exactly (the engine runs MultiplyEpilogue):
// acc[r * acc_stride + c] for r < m, c < w.panels * kPanel (columns past n
// are 0); u holds m rows of RowBytes(w.k) bytes. Requires Supported(); runs on
// the calling thread.
void Multiply(const uint8_t* u, int64_t m, const PackedWeights& w, int32_t* acc,
              int64_t acc_stride);

// The product and the epilogue in one pass, the sums never leaving
// registers: y[r, c] = Epilogue(acc[r, c], offset[c], alpha[c], scale[r],
// bias[c]) (+ residual[r, c]) for c < n; y and residual (may be null) have
// rows of n floats. Requires Supported(); runs on the calling thread.
void MultiplyEpilogue(const uint8_t* u, int64_t m, const PackedWeights& w,
                      const float* scale, const float* residual, float* y);

namespace internal {
void MultiplyAvx512Vnni(const uint8_t* u, int64_t m, const PackedWeights& w,
                        int32_t* acc, int64_t acc_stride);
void MultiplyEpilogueAvx512Vnni(const uint8_t* u, int64_t m,
                                const PackedWeights& w, const float* scale,
                                const float* residual, float* y);
}  // namespace internal

}  // namespace beex::int8_gemm

#include <cmath>

namespace beex::int8_gemm {
inline float Epilogue(int32_t acc, int32_t offset, float alpha, float scale,
                      float bias) {
  return std::fma(static_cast<float>(acc - offset) * alpha, scale, bias);
}
}  // namespace beex::int8_gemm

#endif  // BEEX_ENGINE_KERNELS_INT8_GEMM_H_
