#ifndef BEEX_ENGINE_KERNELS_OPS_H_
#define BEEX_ENGINE_KERNELS_OPS_H_

#include <cstdint>
#include <span>

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

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_OPS_H_
