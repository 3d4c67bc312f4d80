// Dispatch, packing and the portable paths of the binary GEMM. The SIMD paths
// live in bgemm_avx2.cc and bgemm_avx512.cc, compiled with their own -m flags
// so nothing else in the build requires those instructions.
#include "engine/kernels/bgemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace beex::bgemm {

Isa BestIsa() {
#ifdef BEEX_HAVE_AVX512_KERNELS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vpopcntdq") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return Isa::kAvx512;
  }
#endif
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return Isa::kAvx2;
  }
  return Isa::kScalar;
}

namespace {

Isa InitialIsa() {
  const Isa best = BestIsa();
  if (const char* env = std::getenv("BEEX_BGEMM_ISA")) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (IsaName(isa) == env && IsaSupported(isa)) return isa;
    }
  }
  return best;
}

std::atomic<int>& ActiveSlot() {
  static std::atomic<int> slot(static_cast<int>(InitialIsa()));
  return slot;
}

}  // namespace

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool IsaSupported(Isa isa) {
  return static_cast<int>(isa) <= static_cast<int>(BestIsa());
}

Isa ActiveIsa() { return static_cast<Isa>(ActiveSlot().load()); }

absl::Status ForceIsa(Isa isa) {
  if (!IsaSupported(isa)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bgemm: this CPU cannot run the ", std::string(IsaName(isa)), " path"));
  }
  ActiveSlot().store(static_cast<int>(isa));
  return absl::OkStatus();
}

PackedWeights PackWeights(std::span<const uint8_t> bits,
                          std::span<const float> alpha,
                          std::span<const float> bias, int64_t n, int64_t k) {
  PackedWeights w;
  w.n = n;
  w.k = k;
  w.words = WordsFor(k);
  w.panels = (n + kPanel - 1) / kPanel;
  w.data.assign(w.panels * w.words * kPanel, 0);
  const int64_t row_bytes = 8 * ((k + 63) / 64);
  for (int64_t col = 0; col < n; ++col) {
    const int64_t p = col / kPanel, c = col % kPanel;
    for (int64_t j = 0; j < w.words; ++j) {
      uint32_t word;  // little-endian u64 words read as u32 halves, in order
      std::memcpy(&word, bits.data() + col * row_bytes + 4 * j, 4);
      w.data[(p * w.words + j) * kPanel + c] = word;
    }
  }
  const int64_t padded = w.panels * kPanel;
  w.neg2_alpha.assign(padded, 0.0f);
  w.k_alpha.assign(padded, 0.0f);
  w.bias.assign(padded, 0.0f);
  for (int64_t col = 0; col < n; ++col) {
    w.neg2_alpha[col] = -2.0f * alpha[col];
    w.k_alpha[col] = static_cast<float>(k) * alpha[col];
    w.bias[col] = bias[col];
  }
  return w;
}

float SumAbs(const float* x, int64_t k) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t body = k - k % 8;
  for (int64_t i = 0; i < body; i += 8) {
    for (int l = 0; l < 8; ++l) lane[l] += std::fabs(x[i + l]);
  }
  float sum = ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
              ((lane[1] + lane[5]) + (lane[3] + lane[7]));
  for (int64_t i = body; i < k; ++i) sum += std::fabs(x[i]);
  return sum;
}

namespace internal {

void BinarizeScalar(const float* x, int64_t m, int64_t k, uint32_t* bits,
                    float* beta) {
  const int64_t words = WordsFor(k);
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * k;
    uint32_t* out = bits + r * words;
    std::fill(out, out + words, 0u);
    for (int64_t i = 0; i < k; ++i) {
      if (row[i] < 0.0f) out[i / 32] |= 1u << (i % 32);
    }
    beta[r] = SumAbs(row, k) / static_cast<float>(k);
  }
}

void GemmScalar(const uint32_t* a_bits, const float* beta, int64_t m0,
                int64_t m1, int64_t p0, int64_t p1, const PackedWeights& w,
                const float* residual, float* y) {
  const int64_t words = w.words;
  for (int64_t r = m0; r < m1; ++r) {
    const uint32_t* a = a_bits + r * words;
    for (int64_t p = p0; p < p1; ++p) {
      int32_t count[kPanel] = {};
      const uint32_t* panel = w.data.data() + p * words * kPanel;
      for (int64_t j = 0; j < words; ++j) {
        for (int c = 0; c < kPanel; ++c) {
          count[c] += std::popcount(a[j] ^ panel[j * kPanel + c]);
        }
      }
      const int64_t last = std::min<int64_t>(kPanel, w.n - p * kPanel);
      for (int64_t c = 0; c < last; ++c) {
        const int64_t col = p * kPanel + c;
        float v = Epilogue(count[c], beta[r], w.neg2_alpha[col], w.k_alpha[col],
                           w.bias[col]);
        if (residual) v += residual[r * w.n + col];
        y[r * w.n + col] = v;
      }
    }
  }
}

#ifndef BEEX_HAVE_AVX512_KERNELS
void GemmAvx512(const uint32_t* a, const float* b, int64_t m0, int64_t m1,
                int64_t p0, int64_t p1, const PackedWeights& w, const float* r,
                float* y) {
  GemmAvx2(a, b, m0, m1, p0, p1, w, r, y);
}
#endif

}  // namespace internal

void BinarizeRows(const float* x, int64_t m, int64_t k, uint32_t* bits,
                  float* beta) {
  if (ActiveIsa() == Isa::kScalar) {
    internal::BinarizeScalar(x, m, k, bits, beta);
  } else {
    internal::BinarizeAvx2(x, m, k, bits, beta);
  }
}

void Gemm(const uint32_t* a_bits, const float* beta, int64_t m,
          const PackedWeights& w, const float* residual, float* y) {
  if (m <= 0 || w.n <= 0) return;
  internal::GemmFn fn = internal::GemmScalar;
  switch (ActiveIsa()) {
    case Isa::kAvx512:
      fn = internal::GemmAvx512;
      break;
    case Isa::kAvx2:
      fn = internal::GemmAvx2;
      break;
    case Isa::kScalar:
      break;
  }
  const int64_t work = m * w.panels * kPanel * w.words * 32;
  const int threads = work < kParallelBitMacs ? 1 : omp_get_max_threads();
  if (threads <= 1) {
    fn(a_bits, beta, 0, m, 0, w.panels, w, residual, y);
    return;
  }
  // Tiles of 24 rows x 4 panels (64 columns), handed out round-robin.
  constexpr int64_t kRows = 24, kPanels = 4;
  const int64_t row_tiles = (m + kRows - 1) / kRows;
  const int64_t col_tiles = (w.panels + kPanels - 1) / kPanels;
  const int64_t tiles = row_tiles * col_tiles;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t rt = t / col_tiles, ct = t % col_tiles;
    fn(a_bits, beta, rt * kRows, std::min(m, (rt + 1) * kRows), ct * kPanels,
       std::min(w.panels, (ct + 1) * kPanels), w, residual, y);
  }
}

}  // namespace beex::bgemm
