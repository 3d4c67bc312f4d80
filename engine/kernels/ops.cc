#include "engine/kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace beex {

void LayerNorm(float* x, int64_t rows, std::span<const float> gamma,
               std::span<const float> beta, float eps) {
  const int64_t h = static_cast<int64_t>(gamma.size());
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * h;
    double mean = 0;
    for (int64_t i = 0; i < h; ++i) mean += row[i];
    mean /= h;
    double var = 0;
    for (int64_t i = 0; i < h; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= h;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float mu = static_cast<float>(mean);
    for (int64_t i = 0; i < h; ++i) {
      row[i] = (row[i] - mu) * inv * gamma[i] + beta[i];
    }
  }
}

void SelfAttention(const float* qkv, int64_t s, int64_t h, int64_t heads,
                   float* ctx) {
  const int64_t dh = h / heads;
  const int64_t stride = 3 * h;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  std::vector<float> p(s);
  for (int64_t head = 0; head < heads; ++head) {
    const float* q = qkv + head * dh;
    const float* k = qkv + h + head * dh;
    const float* v = qkv + 2 * h + head * dh;
    for (int64_t i = 0; i < s; ++i) {
      float top = -INFINITY;
      for (int64_t j = 0; j < s; ++j) {
        float dot = 0;
        for (int64_t d = 0; d < dh; ++d) {
          dot += q[i * stride + d] * k[j * stride + d];
        }
        p[j] = dot * scale;
        top = std::max(top, p[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < s; ++j) {
        p[j] = std::exp(p[j] - top);
        sum += p[j];
      }
      float* out = ctx + i * h + head * dh;
      std::fill(out, out + dh, 0.0f);
      for (int64_t j = 0; j < s; ++j) {
        const float w = p[j] / sum;
        for (int64_t d = 0; d < dh; ++d) out[d] += w * v[j * stride + d];
      }
    }
  }
}

void GateCandidate(const float* gc, int64_t rows, int64_t f, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gc + r * 2 * f;
    for (int64_t i = 0; i < f; ++i) {
      const float gate = 1.0f / (1.0f + std::exp(-g[i]));
      out[r * f + i] = gate * std::tanh(g[f + i]);
    }
  }
}

void QuantizeRowsInt8(const float* x, int64_t m, int64_t k, int8_t* q,
                      float* scale) {
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * k;
    float top = 0.0f;
    for (int64_t i = 0; i < k; ++i) top = std::max(top, std::fabs(row[i]));
    const float s = top / 127.0f;
    scale[r] = s;
    int8_t* out = q + r * k;
    if (s == 0.0f) {
      std::fill(out, out + k, int8_t{0});
      continue;
    }
    for (int64_t i = 0; i < k; ++i) {
      const float v = std::nearbyint(row[i] / s);
      // NaN quantizes to 0: converting it to an integer is undefined.
      out[i] = std::isnan(v)
                   ? int8_t{0}
                   : static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
}

}  // namespace beex
