#include "engine/kernels/linear.h"

#include <cstring>

namespace beex {

using dnnl::memory;

Linear::Linear(std::vector<float> weights, std::vector<float> bias, int64_t n,
               int64_t k)
    : n_(n),
      k_(k),
      weights_(std::move(weights)),
      bias_(std::move(bias)),
      engine_(dnnl::engine::kind::cpu, 0) {}

const dnnl::matmul& Linear::PrimitiveFor(int64_t m) const {
  absl::MutexLock lock(&mu_);
  auto& slot = primitives_[m];
  if (!slot) {
    const memory::desc src({m, k_}, memory::data_type::f32,
                           memory::format_tag::ab);
    // W is stored [N, K]; as the [K, N] operand that is layout "ba".
    const memory::desc wei({k_, n_}, memory::data_type::f32,
                           memory::format_tag::ba);
    const memory::desc bias({1, n_}, memory::data_type::f32,
                            memory::format_tag::ab);
    const memory::desc dst({m, n_}, memory::data_type::f32,
                           memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(src, wei, bias, dst), engine_);
    slot = std::make_unique<dnnl::matmul>(pd);
  }
  return *slot;
}

void Linear::Forward(const float* x, int64_t m, float* y) const {
  if (m == 0) return;
  const dnnl::matmul& mm = PrimitiveFor(m);
  const auto f32 = memory::data_type::f32;
  memory src({{m, k_}, f32, memory::format_tag::ab}, engine_,
             const_cast<float*>(x));
  memory wei({{k_, n_}, f32, memory::format_tag::ba}, engine_,
             const_cast<float*>(weights_.data()));
  memory bias({{1, n_}, f32, memory::format_tag::ab}, engine_,
              const_cast<float*>(bias_.data()));
  memory dst({{m, n_}, f32, memory::format_tag::ab}, engine_, y);
  dnnl::stream stream(engine_);
  mm.execute(stream, {{DNNL_ARG_SRC, src},
                      {DNNL_ARG_WEIGHTS, wei},
                      {DNNL_ARG_BIAS, bias},
                      {DNNL_ARG_DST, dst}});
  stream.wait();
}

std::vector<float> ExpandSigns(std::span<const uint8_t> packed,
                               std::span<const float> scales, int64_t n,
                               int64_t k) {
  const int64_t words = (k + 63) / 64;
  std::vector<float> w(n * k);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t col = 0; col < k; ++col) {
      uint64_t word;
      std::memcpy(&word, packed.data() + 8 * (row * words + col / 64), 8);
      const bool negative = (word >> (col % 64)) & 1;
      w[row * k + col] = negative ? -scales[row] : scales[row];
    }
  }
  return w;
}

}  // namespace beex
