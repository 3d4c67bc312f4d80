#ifndef BEEX_ENGINE_KERNELS_DNNL_OPS_H_
#define BEEX_ENGINE_KERNELS_DNNL_OPS_H_

// The encoder's dense math other than the linear layers, on oneDNN: JIT
// kernels with vectorized exp/tanh, instead of scalar loops. Primitives are
// created once per shape (oneDNN 2.6's runtime dimensions are slower, see
// kernels.md) and cached; every class is thread-safe.

#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace beex {

// Multi-head self-attention of one sample, as SelfAttention in ops.h:
// qkv [s, 3h] (q | k | v, heads as consecutive slices) -> ctx [s, h].
// Three primitives per sequence length: the batched Q.K^T matmul (scaled by
// 1/sqrt(dh), reading Q and K in place through strides), softmax over keys,
// and the batched P.V matmul writing straight into ctx's head columns.
class Attention {
 public:
  Attention(int64_t hidden, int64_t heads);
  void Forward(const float* qkv, int64_t s, float* ctx) const;

 private:
  struct Prims {
    dnnl::matmul scores, context;
    dnnl::softmax_forward softmax;
    dnnl::memory::desc q, k, p, v, out;
  };
  const Prims& For(int64_t s) const;

  int64_t h_, heads_, dh_;
  dnnl::engine engine_;
  mutable absl::Mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<Prims>> prims_ ABSL_GUARDED_BY(mu_);
};

// out[r, i] = sigmoid(gc[r, i]) * tanh(gc[r, f + i]) for rows of width 2f
// (the selective learn-forget gate); gc is overwritten. One logistic over the
// whole contiguous buffer, with tanh(c) = 2 * sigmoid(2c) - 1: oneDNN 2.6's
// eltwise on the strided half-rows falls back to a slow reference kernel.
class GateCandidateOp {
 public:
  explicit GateCandidateOp(int64_t f);
  void Forward(float* gc, int64_t rows, float* out) const;

 private:
  struct Prims {
    dnnl::eltwise_forward sigmoid;
    dnnl::memory::desc all;
  };
  const Prims& For(int64_t rows) const;

  int64_t f_;
  dnnl::engine engine_;
  mutable absl::Mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<Prims>> prims_ ABSL_GUARDED_BY(mu_);
};

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_DNNL_OPS_H_
