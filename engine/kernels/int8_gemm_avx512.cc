// Compiled with -mavx512f -mavx512vnni; runs only where int8_gemm::Supported.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "engine/kernels/int8_gemm.h"

namespace beex::int8_gemm::internal {
namespace {

// Rows by panels of one register tile: 6 x 4 accumulators, 4 weight vectors
// and a broadcast use 29 of the 32 vector registers. Each weight vector
// loaded serves 6 rows, each broadcast 4 panels.
constexpr int kRows = 6;
constexpr int kPanels = 4;

template <int R, int C>
void Tile(const uint8_t* u, int64_t row_bytes, const int8_t* w,
          int64_t panel_bytes, int64_t groups, int32_t* acc,
          int64_t acc_stride) {
  __m512i sum[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) sum[r][c] = _mm512_setzero_si512();
  }
  for (int64_t g = 0; g < groups; ++g) {
    __m512i wv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      wv[c] = _mm512_loadu_si512(w + c * panel_bytes + g * 64);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      int32_t quad;
      std::memcpy(&quad, u + r * row_bytes + 4 * g, 4);
      const __m512i x = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        sum[r][c] = _mm512_dpbusd_epi32(sum[r][c], x, wv[c]);
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int c = 0; c < C; ++c) {
      _mm512_storeu_si512(acc + r * acc_stride + c * kPanel, sum[r][c]);
    }
  }
}

using TileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int64_t,
                        int64_t, int32_t*, int64_t);

// kTiles[r - 1][c - 1]: the full tile and every remainder.
constexpr TileFn kTiles[kRows][kPanels] = {
    {Tile<1, 1>, Tile<1, 2>, Tile<1, 3>, Tile<1, 4>},
    {Tile<2, 1>, Tile<2, 2>, Tile<2, 3>, Tile<2, 4>},
    {Tile<3, 1>, Tile<3, 2>, Tile<3, 3>, Tile<3, 4>},
    {Tile<4, 1>, Tile<4, 2>, Tile<4, 3>, Tile<4, 4>},
    {Tile<5, 1>, Tile<5, 2>, Tile<5, 3>, Tile<5, 4>},
    {Tile<6, 1>, Tile<6, 2>, Tile<6, 3>, Tile<6, 4>},
};

}  // namespace

void MultiplyAvx512Vnni(const uint8_t* u, int64_t m, const PackedWeights& w,
                        int32_t* acc, int64_t acc_stride) {
  const int64_t row_bytes = RowBytes(w.k);
  const int64_t panel_bytes = w.groups * kPanel * 4;
  for (int64_t r0 = 0; r0 < m; r0 += kRows) {
    const int64_t rows = std::min<int64_t>(kRows, m - r0);
    for (int64_t p0 = 0; p0 < w.panels; p0 += kPanels) {
      const int64_t panels = std::min<int64_t>(kPanels, w.panels - p0);
      kTiles[rows - 1][panels - 1](
          u + r0 * row_bytes, row_bytes, w.data.data() + p0 * panel_bytes,
          panel_bytes, w.groups, acc + r0 * acc_stride + p0 * kPanel,
          acc_stride);
    }
  }
}

}  // namespace beex::int8_gemm::internal
