// Compiled with -mavx512f -mavx512vnni; runs only where int8_gemm::Supported.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/kernels/int8_gemm.h"

namespace beex::int8_gemm::internal {
namespace {

// Rows by panels of one register tile: 6 x 4 accumulators, 4 weight vectors
// and a broadcast use 29 of the 32 vector registers. Each weight vector
// loaded serves 6 rows, each broadcast 4 panels.
constexpr int kRows = 6;
constexpr int kPanels = 4;

// Where a tile's sums go: stored as they are, or through the epilogue.
struct RawSums {
  int32_t* acc;
  int64_t stride;
};
struct EpilogueOutput {
  const PackedWeights* w;
  const float* scale;
  const float* residual;
  float* y;
};

template <int R, int C>
void Store(const RawSums& out, int64_t row0, int64_t panel0,
           const __m512i (&sum)[R][C]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      _mm512_storeu_si512(
          out.acc + (row0 + r) * out.stride + (panel0 + c) * kPanel, sum[r][c]);
    }
  }
}

// Epilogue() lane by lane: the same operations, the same rounding. Out of
// line, with the sums passed through memory: inlined into Tile, its
// registers made GCC shuffle the accumulators inside the k loop (27% slower).
template <int R, int C>
__attribute__((noinline)) void Store(const EpilogueOutput& out, int64_t row0,
                                     int64_t panel0,
                                     const int32_t (&sum)[R][C * kPanel]) {
  const PackedWeights& w = *out.w;
#pragma GCC unroll 4
  for (int c = 0; c < C; ++c) {
    const int64_t col = (panel0 + c) * kPanel;
    const int64_t left = w.n - col;
    const __mmask16 mask =
        left >= kPanel ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const __m512i offset = _mm512_loadu_si512(w.offset.data() + col);
    const __m512 alpha = _mm512_loadu_ps(w.alpha.data() + col);
    const __m512 bias = _mm512_loadu_ps(w.bias.data() + col);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int64_t row = row0 + r;
      const __m512i acc = _mm512_loadu_si512(&sum[r][c * kPanel]);
      // The zero-masking form: GCC 12 warns that the plain one's
      // _mm512_undefined_ps() is used uninitialized.
      const __m512 t = _mm512_mul_ps(
          _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_sub_epi32(acc, offset)),
          alpha);
      __m512 v = _mm512_fmadd_ps(t, _mm512_set1_ps(out.scale[row]), bias);
      if (out.residual) {
        v = _mm512_add_ps(
            v, _mm512_maskz_loadu_ps(mask, out.residual + row * w.n + col));
      }
      _mm512_mask_storeu_ps(out.y + row * w.n + col, mask, v);
    }
  }
}

template <int R, int C, typename Output>
void Tile(const uint8_t* u, const PackedWeights& w, int64_t row0,
          int64_t panel0, const Output& out) {
  const int64_t row_bytes = RowBytes(w.k);
  const int64_t panel_bytes = w.groups * kPanel * 4;
  const uint8_t* a = u + row0 * row_bytes;
  const int8_t* b = w.data.data() + panel0 * panel_bytes;
  __m512i sum[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) sum[r][c] = _mm512_setzero_si512();
  }
  for (int64_t g = 0; g < w.groups; ++g) {
    __m512i wv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      wv[c] = _mm512_loadu_si512(b + c * panel_bytes + g * 64);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t quad;
      std::memcpy(&quad, a + r * row_bytes + 4 * g, 4);
      const __m512i x = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        sum[r][c] = _mm512_dpbusd_epi32(sum[r][c], x, wv[c]);
      }
    }
  }
  if constexpr (std::is_same_v<Output, RawSums>) {
    Store<R, C>(out, row0, panel0, sum);
  } else {
    alignas(64) int32_t sums[R][C * kPanel];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        _mm512_store_si512(&sums[r][c * kPanel], sum[r][c]);
      }
    }
    Store<R, C>(out, row0, panel0, sums);
  }
}

template <typename Output>
using TileFn = void (*)(const uint8_t*, const PackedWeights&, int64_t, int64_t,
                        const Output&);

// kTiles<Output>[r - 1][c - 1]: the full tile and every remainder.
template <typename Output>
constexpr TileFn<Output> kTiles[kRows][kPanels] = {
    {Tile<1, 1, Output>, Tile<1, 2, Output>, Tile<1, 3, Output>,
     Tile<1, 4, Output>},
    {Tile<2, 1, Output>, Tile<2, 2, Output>, Tile<2, 3, Output>,
     Tile<2, 4, Output>},
    {Tile<3, 1, Output>, Tile<3, 2, Output>, Tile<3, 3, Output>,
     Tile<3, 4, Output>},
    {Tile<4, 1, Output>, Tile<4, 2, Output>, Tile<4, 3, Output>,
     Tile<4, 4, Output>},
    {Tile<5, 1, Output>, Tile<5, 2, Output>, Tile<5, 3, Output>,
     Tile<5, 4, Output>},
    {Tile<6, 1, Output>, Tile<6, 2, Output>, Tile<6, 3, Output>,
     Tile<6, 4, Output>},
};

template <typename Output>
void Multiply(const uint8_t* u, int64_t m, const PackedWeights& w,
              const Output& out) {
  for (int64_t r0 = 0; r0 < m; r0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, m - r0);
    for (int64_t p0 = 0; p0 < w.panels; p0 += kPanels) {
      const int64_t panels = std::min<int64_t>(kPanels, w.panels - p0);
      kTiles<Output>[rows - 1][panels - 1](u, w, r0, p0, out);
    }
  }
}

}  // namespace

void MultiplyAvx512Vnni(const uint8_t* u, int64_t m, const PackedWeights& w,
                        int32_t* acc, int64_t acc_stride) {
  Multiply(u, m, w, RawSums{acc, acc_stride});
}

void MultiplyEpilogueAvx512Vnni(const uint8_t* u, int64_t m,
                                const PackedWeights& w, const float* scale,
                                const float* residual, float* y) {
  Multiply(u, m, w, EpilogueOutput{&w, scale, residual, y});
}

}  // namespace beex::int8_gemm::internal
