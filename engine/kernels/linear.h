#ifndef BEEX_ENGINE_KERNELS_LINEAR_H_
#define BEEX_ENGINE_KERNELS_LINEAR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace beex {

// y[M, N] = x[M, K] * W^T + b, on oneDNN's f32 matmul. Binarized layers hand
// in W = alpha_n * sign(W_latent) expanded once at load, so the result equals
// the training-time forward pass up to summation order.
class Linear {
 public:
  // weights: [N, K] row-major.
  Linear(std::vector<float> weights, std::vector<float> bias, int64_t n,
         int64_t k);

  // Thread-safe; primitives are created once per row count M and reused,
  // since oneDNN 2.6's runtime-M kernels are slower (see kernels.md).
  void Forward(const float* x, int64_t m, float* y) const;

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }

 private:
  const dnnl::matmul& PrimitiveFor(int64_t m) const;

  int64_t n_, k_;
  std::vector<float> weights_;
  std::vector<float> bias_;
  dnnl::engine engine_;
  mutable absl::Mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<dnnl::matmul>> primitives_
      ABSL_GUARDED_BY(mu_);
};

// Expands sign bits ([N, ceil(K/64)] u64 words, bit 1 = -1) and per-row
// scales into dense weights alpha_n * (+-1).
std::vector<float> ExpandSigns(std::span<const uint8_t> packed,
                               std::span<const float> scales, int64_t n,
                               int64_t k);

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_LINEAR_H_
