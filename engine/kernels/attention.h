#ifndef BEEX_ENGINE_KERNELS_ATTENTION_H_
#define BEEX_ENGINE_KERNELS_ATTENTION_H_

#include <cstdint>
#include <span>

namespace beex {

// Multi-head self-attention over a packed batch: sample i owns lengths[i]
// consecutive rows of qkv ([rows, 3h]: q | k | v, heads as consecutive
// slices) and of ctx ([rows, h]). Matches SelfAttention (ops.h) per sample.
//
// Why not oneDNN: per sample and block the work is a few hundred thousand
// MACs, and three oneDNN primitive calls per sample cost more than the
// arithmetic (docs/BENCHMARKS.md has the before and after). This kernel
// transposes each head's keys once so that both products are unit-stride
// multiply-adds, computes exp with a branch-free polynomial, has an AVX-512,
// an AVX2 and a baseline build (dense_kernels.h), and runs the samples on
// the intra-op threads. Each sample is computed by one thread in a fixed
// order, so results do not depend on the batch's composition or the thread
// count.
class Attention {
 public:
  Attention(int64_t hidden, int64_t heads) : h_(hidden), heads_(heads) {}
  void Forward(const float* qkv, std::span<const int64_t> lengths,
               float* ctx) const;

 private:
  int64_t h_, heads_;
};

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_ATTENTION_H_
