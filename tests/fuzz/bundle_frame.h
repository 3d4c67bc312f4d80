#ifndef BEEX_TESTS_FUZZ_BUNDLE_FRAME_H_
#define BEEX_TESTS_FUZZ_BUNDLE_FRAME_H_

// The input format of the fuzz targets that read bundles (bundle_fuzz,
// model_fuzz). First byte bit 0 clear: the rest is a bundle file as is. Set:
// the rest is "header JSON \0 data", framed here with a correct prefix and
// header CRC, and with each "$CRC" in the header replaced by the data's CRC,
// so the fuzzer gets past the checksums to the header and tensor checks.

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/bundle.h"

namespace beex::fuzz {

inline void PutU32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian, as the format
  out.append(b, 4);
}

inline uint32_t Crc32(std::string_view s) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

inline std::string Frame(std::string_view header_template,
                         std::string_view data) {
  const std::string crc = std::to_string(Crc32(data));
  std::string header;
  for (size_t i = 0; i < header_template.size();) {
    if (header_template.substr(i, 4) == "$CRC") {
      header += crc;
      i += 4;
    } else {
      header += header_template[i++];
    }
  }
  std::string out("BEEXMDL", 8);
  PutU32(out, kBundleFormatVersion);
  PutU32(out, static_cast<uint32_t>(header.size()));
  PutU32(out, Crc32(header));
  PutU32(out, 0);
  out.append(header);
  out.resize((out.size() + 63) / 64 * 64, '\0');
  out.append(data);
  return out;
}

// The bundle bytes a fuzz input stands for (size >= 1).
inline std::string BundleBytes(const uint8_t* data, size_t size) {
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  if (!(data[0] & 1)) return std::string(rest);
  const size_t nul = rest.find('\0');
  const std::string_view header = rest.substr(0, nul);
  const std::string_view body =
      nul == rest.npos ? std::string_view() : rest.substr(nul + 1);
  return Frame(header, body);
}

}  // namespace beex::fuzz

#endif  // BEEX_TESTS_FUZZ_BUNDLE_FRAME_H_
