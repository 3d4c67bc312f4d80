#include "engine/kernels/rowwise.h"

#include "engine/kernels/dense_kernels.h"
#include "engine/kernels/threads.h"

namespace beex {

void LayerNormRows(float* x, int64_t rows, std::span<const float> gamma,
                   std::span<const float> beta, float eps) {
  const DenseKernels& kernels = ActiveDenseKernels();
  const int64_t h = static_cast<int64_t>(gamma.size());
  ForEachIndex(rows, rows * h >= kParallelValues, [&](int64_t r) {
    kernels.normalize_row(x + r * h, h, gamma.data(), beta.data(), eps);
  });
}

void GateRows(const float* gc, int64_t rows, int64_t f, float* out) {
  const DenseKernels& kernels = ActiveDenseKernels();
  ForEachIndex(rows, rows * f >= kParallelValues, [&](int64_t r) {
    kernels.gate_row(gc + r * 2 * f, f, out + r * f);
  });
}

}  // namespace beex
