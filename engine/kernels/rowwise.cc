#include "engine/kernels/rowwise.h"

#include <cmath>

#include "engine/kernels/threads.h"
#include "engine/kernels/vector_math.h"

namespace beex {
namespace {

// Elementwise work per value is worth about 16 multiply-adds (exp, divide).
constexpr int64_t kParallelValues = kParallelWork / 16;

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",
                             "default"))) void
NormalizeRow(float* row, int64_t h, const float* gamma, const float* beta,
             float eps) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < h; ++i) sum += row[i];
  const float mean = sum / static_cast<float>(h);
  float squares = 0.0f;
#pragma omp simd reduction(+ : squares)
  for (int64_t i = 0; i < h; ++i) {
    const float d = row[i] - mean;
    squares += d * d;
  }
  const float inv = 1.0f / std::sqrt(squares / static_cast<float>(h) + eps);
  for (int64_t i = 0; i < h; ++i) {
    row[i] = (row[i] - mean) * inv * gamma[i] + beta[i];
  }
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",
                             "default"))) void
GateRow(const float* g, int64_t f, float* out) {
  const float* c = g + f;
#pragma omp simd
  for (int64_t i = 0; i < f; ++i) {
    // tanh(c) = 2 sigmoid(2c) - 1
    out[i] = Sigmoid(g[i]) * (2.0f * Sigmoid(2.0f * c[i]) - 1.0f);
  }
}

}  // namespace

void LayerNormRows(float* x, int64_t rows, std::span<const float> gamma,
                   std::span<const float> beta, float eps) {
  const int64_t h = static_cast<int64_t>(gamma.size());
#pragma omp parallel for if (rows * h >= kParallelValues)
  for (int64_t r = 0; r < rows; ++r) {
    NormalizeRow(x + r * h, h, gamma.data(), beta.data(), eps);
  }
}

void GateRows(const float* gc, int64_t rows, int64_t f, float* out) {
#pragma omp parallel for if (rows * f >= kParallelValues)
  for (int64_t r = 0; r < rows; ++r) GateRow(gc + r * 2 * f, f, out + r * f);
}

}  // namespace beex
