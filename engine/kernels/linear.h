#ifndef BEEX_ENGINE_KERNELS_LINEAR_H_
#define BEEX_ENGINE_KERNELS_LINEAR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/kernels/bgemm.h"
#include "engine/kernels/int8_gemm.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace beex {

// One projection y[M, N] = f(x[M, K]) * W^T + b (+ residual[M, N]).
//
// Three arithmetic paths, chosen by the bundle (CONTRACT.md, activation_bits):
// - float activations: oneDNN f32 matmul on W (for binarized layers
//   alpha_n * sign, expanded once at load), the residual fused as a post-op;
// - 8-bit: per-token symmetric int8 activations times the +-1 weights as s8
//   multiplied exactly into s32 (int8_gemm.h, or oneDNN's u8 x s8 matmul),
//   then s[m] * alpha[n] * acc + b;
// - 1-bit: XNOR/popcount binary GEMM (bgemm.h) with the epilogue fused.
class Linear {
  struct PrivateKey {};

 public:
  enum class Path { kFloat, kInt8, kXnor };
  // The int8 path's multiply: int8_gemm.h where the CPU has AVX-512 VNNI,
  // else oneDNN's u8 x s8 matmul. Both give the same bits.
  enum class Int8Gemm { kOneDnn, kVnni };
  static Int8Gemm ActiveInt8Gemm();
  // For tests and benchmarks; false (and no change) for kVnni on a CPU
  // without it.
  static bool ForceInt8Gemm(Int8Gemm gemm);

  // weights: [N, K] row-major, used as they are.
  static std::unique_ptr<Linear> Dense(std::vector<float> weights,
                                       std::vector<float> bias, int64_t n,
                                       int64_t k);
  // bits: the bundle's b1 tensor ([N, ceil(K/64)] u64 words, bit 1 = -1);
  // alpha: per-row scales; activation_bits 0 or 32 (float), 8 or 1.
  static absl::StatusOr<std::unique_ptr<Linear>> Binary(
      std::span<const uint8_t> bits, std::span<const float> alpha,
      std::vector<float> bias, int64_t n, int64_t k, uint32_t activation_bits);

  Linear(PrivateKey, Path path, int64_t n, int64_t k);

  // Thread-safe. oneDNN primitives are created once per power-of-two row
  // count and reused (oneDNN 2.6's runtime-M kernels are slower, see
  // kernels.md); M rows run as power-of-two chunks, so a layer holds at most
  // log2(max M) + 1 primitives (two with a residual) whatever M it meets.
  // residual may be null; y must not alias x or residual.
  void Forward(const float* x, int64_t m, float* y,
               const float* residual = nullptr) const;

  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  Path path() const { return path_; }
  // Bytes of weights this layer holds.
  int64_t weight_bytes() const;
  // oneDNN primitives made so far.
  size_t primitive_count() const {
    absl::MutexLock lock(&mu_);
    return primitives_.size();
  }

 private:
  // A matmul for one M, with the weights packed in the layout it chose
  // (shared between M whose layouts agree).
  struct Primitive {
    dnnl::matmul matmul;
    std::shared_ptr<dnnl::memory> weights;
    dnnl::memory::desc scratchpad;
  };
  // Runs p on the calling thread's own scratchpad (see PrimitiveFor).
  void Execute(const Primitive& p, const dnnl::stream& stream,
               std::unordered_map<int, dnnl::memory>& args) const;
  const Primitive& PrimitiveFor(int64_t m, bool residual) const;
  void ForwardFloat(const float* x, int64_t m, float* y,
                    const float* residual) const;
  void ForwardInt8(const float* x, int64_t m, float* y,
                   const float* residual) const;
  // acc[m, n] = u[m, k] (u8) x signs_^T on oneDNN.
  void MultiplyOneDnn(const uint8_t* u, int64_t m, int32_t* acc) const;
  void ForwardXnor(const float* x, int64_t m, float* y,
                   const float* residual) const;

  Path path_;
  int64_t n_, k_;
  std::vector<float> weights_;             // kFloat: [N, K]
  std::vector<int8_t> signs_;              // kInt8: [N, K] of +-1, for oneDNN
  int8_gemm::PackedWeights packed_signs_;  // kInt8, where VNNI runs
  std::vector<int32_t> offset_;            // kInt8: 128 * sum_k sign(w[n, k])
  std::vector<float> alpha_, bias_;        // kInt8 epilogue; kFloat bias
  bgemm::PackedWeights packed_;            // kXnor
  dnnl::engine engine_;
  mutable absl::Mutex mu_;
  mutable std::map<std::pair<int64_t, bool>, std::unique_ptr<Primitive>>
      primitives_ ABSL_GUARDED_BY(mu_);
};

// Expands sign bits ([N, ceil(K/64)] u64 words, bit 1 = -1) and per-row
// scales into dense weights alpha_n * (+-1).
std::vector<float> ExpandSigns(std::span<const uint8_t> packed,
                               std::span<const float> scales, int64_t n,
                               int64_t k);

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_LINEAR_H_
