#ifndef BEEX_ENGINE_KERNELS_BGEMM_H_
#define BEEX_ENGINE_KERNELS_BGEMM_H_

// Binary (XNOR/popcount) GEMM for 1-bit weights x 1-bit activations:
//   y[m, n] = beta[m] * alpha[n] * sum_k sign(x[m, k]) * sign(w[n, k]) + b[n]
//             (+ residual[m, n])
// with the sum computed exactly as K - 2 * popcount(xbits ^ wbits), bit 1
// meaning -1 and sign(0) = +1 (CONTRACT.md, activation_bits = 1).
//
// Every ISA path computes the popcounts exactly and then the same float
// operations in the same order (two fused multiply-adds per output, one add
// for the residual), so all paths give bit-identical results.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "engine/kernels/threads.h"

namespace beex::bgemm {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

std::string_view IsaName(Isa isa);
// Whether this CPU (and this build) can run the path.
bool IsaSupported(Isa isa);
// The fastest path this CPU (and this build) can run, whatever ActiveIsa is.
Isa BestIsa();
// The path in use: the best supported one, or BEEX_BGEMM_ISA
// (scalar|avx2|avx512) from the environment, or what ForceIsa chose.
Isa ActiveIsa();
// For tests and benchmarks; refuses paths this CPU cannot run.
absl::Status ForceIsa(Isa isa);

// 32-bit words per packed row of k bits.
inline int64_t WordsFor(int64_t k) { return (k + 31) / 32; }

// Columns per weight panel: one 512-bit vector of 32-bit lanes.
inline constexpr int64_t kPanel = 16;

// Sign weights packed once at load. Panel p holds columns 16p..16p+15
// interleaved per 32-bit word: data[(p * words + j) * 16 + c] is word j of
// column 16p + c, so one vector load gives the same k-chunk of 16 columns and
// lane c accumulates column c with no horizontal reduction. Columns past N
// are zero.
struct PackedWeights {
  int64_t n = 0, k = 0, words = 0, panels = 0;
  std::vector<uint32_t> data;
  // Per column: -2 * alpha[n] and K * alpha[n], bias[n]; padded to panels*16.
  std::vector<float> neg2_alpha, k_alpha, bias;
};

// bits: the bundle's b1 tensor, [n, ceil(k/64)] little-endian u64 words.
PackedWeights PackWeights(std::span<const uint8_t> bits,
                          std::span<const float> alpha,
                          std::span<const float> bias, int64_t n, int64_t k);

// Binarizes m rows of k floats: bits [m, WordsFor(k)] (bit 1 = x < 0, pad bits
// 0) and beta[m] = mean |x| summed in the fixed order of SumAbs.
void BinarizeRows(const float* x, int64_t m, int64_t k, uint32_t* bits,
                  float* beta);

// sum |x[i]| in a fixed order every path follows: 8 interleaved partial sums
// (element i goes to lane i % 8 over the first k - k % 8 elements), combined
// as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then the tail added in order.
float SumAbs(const float* x, int64_t k);

// Bit-MACs below which Gemm runs on one thread. Waking a sleeping OpenMP
// thread costs what kParallelWork f32 MACs do (threads.h), and a bit-MAC
// costs about a sixth of an f32 MAC here (kernel_bench: ~280 against ~50 G/s
// a core). It was 2 M, which sent a batch-1 FFN projection (33 x 512 x 128)
// through a thread wake-up: full depth at batch 1 ran at 0.44 of its speed.
inline constexpr int64_t kParallelBitMacs = 6 * kParallelWork;

// y = the formula above. a_bits from BinarizeRows; residual may be null.
// Runs on the OpenMP threads of the calling thread from kParallelBitMacs on.
void Gemm(const uint32_t* a_bits, const float* beta, int64_t m,
          const PackedWeights& w, const float* residual, float* y);

// One output from the formula, as every path computes it (the reference).
inline float Epilogue(int32_t popcount, float beta, float neg2_alpha,
                      float k_alpha, float bias);

namespace internal {
// Per-ISA entry points over rows [m0, m1) and panels [p0, p1).
using GemmFn = void (*)(const uint32_t* a_bits, const float* beta, int64_t m0,
                        int64_t m1, int64_t p0, int64_t p1,
                        const PackedWeights& w, const float* residual,
                        float* y);
using BinarizeFn = void (*)(const float* x, int64_t m, int64_t k,
                            uint32_t* bits, float* beta);
void GemmScalar(const uint32_t*, const float*, int64_t, int64_t, int64_t,
                int64_t, const PackedWeights&, const float*, float*);
void GemmAvx2(const uint32_t*, const float*, int64_t, int64_t, int64_t, int64_t,
              const PackedWeights&, const float*, float*);
void GemmAvx512(const uint32_t*, const float*, int64_t, int64_t, int64_t,
                int64_t, const PackedWeights&, const float*, float*);
void BinarizeScalar(const float*, int64_t, int64_t, uint32_t*, float*);
void BinarizeAvx2(const float*, int64_t, int64_t, uint32_t*, float*);
}  // namespace internal

}  // namespace beex::bgemm

#include <cmath>

namespace beex::bgemm {
inline float Epilogue(int32_t popcount, float beta, float neg2_alpha,
                      float k_alpha, float bias) {
  const float t = std::fma(static_cast<float>(popcount), neg2_alpha, k_alpha);
  return std::fma(t, beta, bias);
}
}  // namespace beex::bgemm

#endif  // BEEX_ENGINE_KERNELS_BGEMM_H_
