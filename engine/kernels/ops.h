#ifndef BEEX_ENGINE_KERNELS_OPS_H_
#define BEEX_ENGINE_KERNELS_OPS_H_

#include <cstdint>
#include <span>

// Plain scalar references: the vectorized kernels are tested against these.
namespace beex {

// In place over `rows` rows of width `gamma.size()`.
void LayerNorm(float* x, int64_t rows, std::span<const float> gamma,
               std::span<const float> beta, float eps);

// Multi-head self-attention of one sample: qkv is [s, 3h] (q | k | v, each
// split into `heads` consecutive slices); ctx receives [s, h].
void SelfAttention(const float* qkv, int64_t s, int64_t h, int64_t heads,
                   float* ctx);

// out[i] = sigmoid(gc[i, :f]) * tanh(gc[i, f:]) for rows of width 2f.
void GateCandidate(const float* gc, int64_t rows, int64_t f, float* out);

// Per-token symmetric int8 (CONTRACT.md): scale[r] = max|x| / 127,
// q = clamp(nearbyint(x / scale), -127, 127), q = 0 where scale is 0 and
// where x / scale is NaN (non-finite inputs).
void QuantizeRowsInt8(const float* x, int64_t m, int64_t k, int8_t* q,
                      float* scale);

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_OPS_H_
