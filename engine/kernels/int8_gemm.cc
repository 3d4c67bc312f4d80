#include "engine/kernels/int8_gemm.h"

namespace beex::int8_gemm {

PackedWeights Pack(std::span<const int8_t> w, std::span<const int32_t> offset,
                   std::span<const float> alpha, std::span<const float> bias,
                   int64_t n, int64_t k) {
  PackedWeights p;
  p.n = n;
  p.k = k;
  p.groups = RowBytes(k) / 4;
  p.panels = (n + kPanel - 1) / kPanel;
  p.data.assign(p.panels * p.groups * kPanel * 4, 0);
  const auto padded = static_cast<size_t>(p.panels * kPanel);
  p.offset.assign(offset.begin(), offset.end());
  p.offset.resize(padded, 0);
  p.alpha.assign(alpha.begin(), alpha.end());
  p.alpha.resize(padded, 0.0f);
  p.bias.assign(bias.begin(), bias.end());
  p.bias.resize(padded, 0.0f);
  for (int64_t col = 0; col < n; ++col) {
    const int64_t panel = col / kPanel, lane = col % kPanel;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t group = i / 4;
      p.data[((panel * p.groups + group) * kPanel + lane) * 4 + i % 4] =
          w[col * k + i];
    }
  }
  return p;
}

bool Supported() {
#if defined(BEEX_HAVE_AVX512_VNNI_KERNELS)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

void Multiply(const uint8_t* u, int64_t m, const PackedWeights& w, int32_t* acc,
              int64_t acc_stride) {
#if defined(BEEX_HAVE_AVX512_VNNI_KERNELS)
  internal::MultiplyAvx512Vnni(u, m, w, acc, acc_stride);
#else
  (void)u, (void)m, (void)w, (void)acc, (void)acc_stride;
#endif
}

void MultiplyEpilogue(const uint8_t* u, int64_t m, const PackedWeights& w,
                      const float* scale, const float* residual, float* y) {
#if defined(BEEX_HAVE_AVX512_VNNI_KERNELS)
  internal::MultiplyEpilogueAvx512Vnni(u, m, w, scale, residual, y);
#else
  (void)u, (void)m, (void)w, (void)scale, (void)residual, (void)y;
#endif
}

}  // namespace beex::int8_gemm
