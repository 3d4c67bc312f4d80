#ifndef BEEX_ENGINE_KERNELS_ROWWISE_H_
#define BEEX_ENGINE_KERNELS_ROWWISE_H_

// The encoder's row-wise float math: the fast twins of LayerNorm and
// GateCandidate in ops.h (their scalar references). Rows are split over the
// intra-op threads; each row is computed by one thread in a fixed order, so
// a row's result does not depend on the batch it is in. One build per ISA
// (dense_kernels.h).

#include <cstdint>
#include <span>

namespace beex {

// In place over `rows` rows of width gamma.size().
void LayerNormRows(float* x, int64_t rows, std::span<const float> gamma,
                   std::span<const float> beta, float eps);

// out[r, i] = sigmoid(gc[r, i]) * tanh(gc[r, f + i]) for rows of width 2f
// (the selective learn-forget gate).
void GateRows(const float* gc, int64_t rows, int64_t f, float* out);

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_ROWWISE_H_
