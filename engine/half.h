#ifndef BEEX_ENGINE_HALF_H_
#define BEEX_ENGINE_HALF_H_

#include <bit>
#include <cstdint>

namespace beex {

// IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN);
// portable so that bundles load on CPUs without F16C.
constexpr float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) {  // inf or NaN
    return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    // Subnormal: shift until the implicit bit appears.
    exponent = 113;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3ff;
    return std::bit_cast<float>(sign | (exponent << 23) | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) |
                              (mantissa << 13));
}

}  // namespace beex

#endif  // BEEX_ENGINE_HALF_H_
