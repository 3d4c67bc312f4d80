// AVX2 + FMA path of the binary GEMM (compiled with -mavx2 -mfma; called
// only after run-time detection). AVX2 has no vector popcount, so each byte
// is counted with two 4-bit table lookups (vpshufb), byte counts are summed
// for up to 31 words (31 * 8 < 256) and then widened to 32-bit lanes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "engine/kernels/bgemm.h"

namespace beex::bgemm::internal {
namespace {

constexpr int kMr = 4;          // rows per tile
constexpr int64_t kChunk = 31;  // words per byte-count accumulation

inline __m256i PopcountBytes(__m256i x, __m256i lut, __m256i low) {
  const __m256i lo = _mm256_and_si256(x, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                         _mm256_shuffle_epi8(lut, hi));
}

// Sum of the four bytes of each 32-bit lane.
inline __m256i WidenBytes(__m256i bytes) {
  const __m256i pairs =
      _mm256_maddubs_epi16(bytes, _mm256_set1_epi8(1));  // <= 510 per i16
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

inline __m256i LaneMask(int64_t valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(valid)), idx);
}

template <int MR>
void Tile(const uint32_t* a_bits, const float* beta, int64_t r0, int64_t p,
          const PackedWeights& w, const float* residual, float* y) {
  const int64_t words = w.words;
  const uint32_t* panel = w.data.data() + p * words * kPanel;
  const __m256i lut =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                       2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i total[MR][2];
  for (int r = 0; r < MR; ++r) {
    total[r][0] = total[r][1] = _mm256_setzero_si256();
  }
  for (int64_t j0 = 0; j0 < words; j0 += kChunk) {
    const int64_t j1 = std::min(words, j0 + kChunk);
    __m256i acc[MR][2];
    for (int r = 0; r < MR; ++r) {
      acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    }
    for (int64_t j = j0; j < j1; ++j) {
      const __m256i w0 = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(panel + j * kPanel));
      const __m256i w1 = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(panel + j * kPanel + 8));
      for (int r = 0; r < MR; ++r) {
        const __m256i a =
            _mm256_set1_epi32(static_cast<int>(a_bits[(r0 + r) * words + j]));
        acc[r][0] = _mm256_add_epi8(
            acc[r][0], PopcountBytes(_mm256_xor_si256(a, w0), lut, low));
        acc[r][1] = _mm256_add_epi8(
            acc[r][1], PopcountBytes(_mm256_xor_si256(a, w1), lut, low));
      }
    }
    for (int r = 0; r < MR; ++r) {
      total[r][0] = _mm256_add_epi32(total[r][0], WidenBytes(acc[r][0]));
      total[r][1] = _mm256_add_epi32(total[r][1], WidenBytes(acc[r][1]));
    }
  }
  const int64_t col0 = p * kPanel;
  const int64_t valid = std::min<int64_t>(kPanel, w.n - col0);
  for (int h = 0; h < 2; ++h) {
    const int64_t c = col0 + 8 * h;
    const int64_t lanes = std::clamp<int64_t>(valid - 8 * h, 0, 8);
    if (lanes == 0) break;
    const __m256 n2a = _mm256_loadu_ps(w.neg2_alpha.data() + c);
    const __m256 ka = _mm256_loadu_ps(w.k_alpha.data() + c);
    const __m256 b = _mm256_loadu_ps(w.bias.data() + c);
    const __m256i mask = LaneMask(lanes);
    for (int r = 0; r < MR; ++r) {
      const int64_t row = r0 + r;
      const __m256 t =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[r][h]), n2a, ka);
      __m256 v = _mm256_fmadd_ps(t, _mm256_set1_ps(beta[row]), b);
      float* out = y + row * w.n + c;
      if (lanes == 8) {
        if (residual)
          v = _mm256_add_ps(v, _mm256_loadu_ps(residual + row * w.n + c));
        _mm256_storeu_ps(out, v);
      } else {
        if (residual) {
          v = _mm256_add_ps(v,
                            _mm256_maskload_ps(residual + row * w.n + c, mask));
        }
        _mm256_maskstore_ps(out, mask, v);
      }
    }
  }
}

}  // namespace

void GemmAvx2(const uint32_t* a_bits, const float* beta, int64_t m0, int64_t m1,
              int64_t p0, int64_t p1, const PackedWeights& w,
              const float* residual, float* y) {
  for (int64_t p = p0; p < p1; ++p) {
    int64_t r = m0;
    for (; r + kMr <= m1; r += kMr) {
      Tile<kMr>(a_bits, beta, r, p, w, residual, y);
    }
    for (; r < m1; ++r) Tile<1>(a_bits, beta, r, p, w, residual, y);
  }
}

void BinarizeAvx2(const float* x, int64_t m, int64_t k, uint32_t* bits,
                  float* beta) {
  const int64_t words = WordsFor(k);
  const int64_t body = k - k % 8;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * k;
    uint32_t* out = bits + r * words;
    std::fill(out, out + words, 0u);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < body; i += 8) {
      const __m256 v = _mm256_loadu_ps(row + i);
      const uint32_t neg = static_cast<uint32_t>(
          _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
      out[i / 32] |= neg << (i % 32);
      acc = _mm256_add_ps(acc, _mm256_andnot_ps(sign, v));
    }
    // The order SumAbs defines: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
    const __m128 s4 =
        _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    float sum = _mm_cvtss_f32(s2) + _mm_cvtss_f32(_mm_shuffle_ps(s2, s2, 1));
    for (int64_t i = body; i < k; ++i) {
      if (row[i] < 0.0f) out[i / 32] |= 1u << (i % 32);
      sum += std::fabs(row[i]);
    }
    beta[r] = sum / static_cast<float>(k);
  }
}

}  // namespace beex::bgemm::internal
