// AVX-512 VPOPCNTDQ path of the binary GEMM (compiled with -mavx512f
// -mavx512vpopcntdq -mavx2 -mfma; called only after run-time detection).
// Register tile: 6 rows x up to 4 panels (64 columns), 24 accumulators of 16
// 32-bit lanes. Per 32-bit word: one broadcast per row, one load per panel,
// and xor + vpopcntd + add per accumulator; no horizontal reductions.
#include <immintrin.h>

#include <algorithm>

#include "engine/kernels/bgemm.h"

namespace beex::bgemm::internal {
namespace {

constexpr int kMr = 6;
constexpr int kNp = 4;

// _mm512_cvtepi32_ps starts from _mm512_undefined_ps, which GCC 12 reports as
// maybe-uninitialized; the merge-masked form with all lanes set is the same.
inline __m512 Cvt(__m512i v) {
  return _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xffff, v);
}

template <int MR, int NP>
void Tile(const uint32_t* a_bits, const float* beta, int64_t r0, int64_t p0,
          const PackedWeights& w, const float* residual, float* y) {
  const int64_t words = w.words;
  const uint32_t* base = w.data.data() + p0 * words * kPanel;
  __m512i acc[MR][NP];
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_setzero_si512();
  }
  const uint32_t* a = a_bits + r0 * words;
  for (int64_t j = 0; j < words; ++j) {
    __m512i wv[NP];
    for (int q = 0; q < NP; ++q) {
      wv[q] = _mm512_loadu_si512(base + (q * words + j) * kPanel);
    }
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(static_cast<int>(a[r * words + j]));
      for (int q = 0; q < NP; ++q) {
        acc[r][q] = _mm512_add_epi32(
            acc[r][q], _mm512_popcnt_epi32(_mm512_xor_si512(av, wv[q])));
      }
    }
  }
  for (int q = 0; q < NP; ++q) {
    const int64_t c = (p0 + q) * kPanel;
    const int64_t valid = std::min<int64_t>(kPanel, w.n - c);
    if (valid <= 0) break;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    const __m512 n2a = _mm512_loadu_ps(w.neg2_alpha.data() + c);
    const __m512 ka = _mm512_loadu_ps(w.k_alpha.data() + c);
    const __m512 b = _mm512_loadu_ps(w.bias.data() + c);
    for (int r = 0; r < MR; ++r) {
      const int64_t row = r0 + r;
      const __m512 t = _mm512_fmadd_ps(Cvt(acc[r][q]), n2a, ka);
      __m512 v = _mm512_fmadd_ps(t, _mm512_set1_ps(beta[row]), b);
      if (residual) {
        v = _mm512_add_ps(
            v, _mm512_maskz_loadu_ps(mask, residual + row * w.n + c));
      }
      _mm512_mask_storeu_ps(y + row * w.n + c, mask, v);
    }
  }
}

template <int MR>
void Row(const uint32_t* a_bits, const float* beta, int64_t r0, int64_t p0,
         int64_t p1, const PackedWeights& w, const float* residual, float* y) {
  int64_t p = p0;
  for (; p + kNp <= p1; p += kNp) {
    Tile<MR, kNp>(a_bits, beta, r0, p, w, residual, y);
  }
  switch (p1 - p) {
    case 3:
      Tile<MR, 3>(a_bits, beta, r0, p, w, residual, y);
      break;
    case 2:
      Tile<MR, 2>(a_bits, beta, r0, p, w, residual, y);
      break;
    case 1:
      Tile<MR, 1>(a_bits, beta, r0, p, w, residual, y);
      break;
    default:
      break;
  }
}

}  // namespace

void GemmAvx512(const uint32_t* a_bits, const float* beta, int64_t m0,
                int64_t m1, int64_t p0, int64_t p1, const PackedWeights& w,
                const float* residual, float* y) {
  int64_t r = m0;
  for (; r + kMr <= m1; r += kMr) {
    Row<kMr>(a_bits, beta, r, p0, p1, w, residual, y);
  }
  switch (m1 - r) {
    case 5:
      Row<5>(a_bits, beta, r, p0, p1, w, residual, y);
      break;
    case 4:
      Row<4>(a_bits, beta, r, p0, p1, w, residual, y);
      break;
    case 3:
      Row<3>(a_bits, beta, r, p0, p1, w, residual, y);
      break;
    case 2:
      Row<2>(a_bits, beta, r, p0, p1, w, residual, y);
      break;
    case 1:
      Row<1>(a_bits, beta, r, p0, p1, w, residual, y);
      break;
    default:
      break;
  }
}

}  // namespace beex::bgemm::internal
