#include "engine/kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/kernels/threads.h"
#include "engine/kernels/vector_math.h"

namespace beex {
namespace {

// One sample; kt holds [dh, s] and p [s] of scratch.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3",
                             "default"))) void
AttendSample(const float* qkv, int64_t s, int64_t h, int64_t heads, float* ctx,
             float* kt, float* p) {
  const int64_t dh = h / heads;
  const int64_t stride = 3 * h;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  for (int64_t head = 0; head < heads; ++head) {
    const float* q = qkv + head * dh;
    const float* k = qkv + h + head * dh;
    const float* v = qkv + 2 * h + head * dh;
    for (int64_t j = 0; j < s; ++j) {
      for (int64_t d = 0; d < dh; ++d) kt[d * s + j] = k[j * stride + d];
    }
    for (int64_t i = 0; i < s; ++i) {
      std::fill(p, p + s, 0.0f);
      for (int64_t d = 0; d < dh; ++d) {
        const float qd = q[i * stride + d] * scale;
        const float* kd = kt + d * s;
        for (int64_t j = 0; j < s; ++j) p[j] += qd * kd[j];
      }
      float top = p[0];
#pragma omp simd reduction(max : top)
      for (int64_t j = 0; j < s; ++j) top = p[j] > top ? p[j] : top;
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < s; ++j) {
        p[j] = ExpNonPositive(p[j] - top);
        sum += p[j];
      }
      const float inv = 1.0f / sum;
      // __restrict: without it GCC leaves this loop scalar, since out and
      // v could overlap for all it knows.
      float* __restrict out = ctx + i * h + head * dh;
      std::fill(out, out + dh, 0.0f);
      for (int64_t j = 0; j < s; ++j) {
        const float w = p[j] * inv;
        const float* __restrict vj = v + j * stride;
        for (int64_t d = 0; d < dh; ++d) out[d] += w * vj[d];
      }
    }
  }
}

}  // namespace

void Attention::Forward(const float* qkv, std::span<const int64_t> lengths,
                        float* ctx) const {
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> first(n + 1, 0);
  int64_t work = 0;  // multiply-adds of both products
  for (int64_t i = 0; i < n; ++i) {
    first[i + 1] = first[i] + lengths[i];
    work += 2 * lengths[i] * lengths[i] * h_;
  }
#pragma omp parallel for schedule(dynamic) if (work >= kParallelWork)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = lengths[i];
    if (s == 0) continue;
    thread_local std::vector<float> kt, p;
    if (static_cast<int64_t>(p.size()) < s) p.resize(s);
    if (static_cast<int64_t>(kt.size()) < s * (h_ / heads_)) {
      kt.resize(s * (h_ / heads_));
    }
    AttendSample(qkv + first[i] * 3 * h_, s, h_, heads_, ctx + first[i] * h_,
                 kt.data(), p.data());
  }
}

}  // namespace beex
