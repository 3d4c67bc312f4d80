#ifndef BEEX_ENGINE_KERNELS_VECTOR_MATH_H_
#define BEEX_ENGINE_KERNELS_VECTOR_MATH_H_

// Elementwise functions written without calls or branches, so that loops
// around them vectorize (std::exp would be a scalar call per element). Files
// that use them are compiled with -fno-trapping-math (engine/CMakeLists.txt):
// without it GCC keeps the selects as branches.

#include <bit>
#include <cmath>
#include <cstdint>

namespace beex {

// e^x for x <= 0, relative error below 4e-7: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 Taylor polynomial of e^r, and n added to the
// exponent bits. ln2 is split in two (Cody and Waite) so that n * ln2 loses
// no bits: its high part has few enough bits that n times it is exact.
inline float ExpNonPositive(float x) {
  x = x > -87.0f ? x : -87.0f;  // e^-87 is still a normal float
  const float n = std::floor(x * 1.44269504f + 0.5f);
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

// 1 / (1 + e^-x) through e^-|x|, which never overflows.
inline float Sigmoid(float x) {
  const float e = ExpNonPositive(-std::fabs(x));
  const float inv = 1.0f / (1.0f + e);
  const float below_zero = e * inv;
  return x >= 0.0f ? inv : below_zero;
}

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_VECTOR_MATH_H_
