#ifndef BEEX_ENGINE_BUNDLE_H_
#define BEEX_ENGINE_BUNDLE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/bundle_header.pb.h"

namespace beex {

inline constexpr uint32_t kBundleFormatVersion = 1;

// A model bundle read into memory and checked: magic, format version, header
// and data checksums, and that every tensor lies inside the data section.
// Shapes against the architecture are checked by whoever reads the tensor.
class Bundle {
 public:
  static absl::StatusOr<Bundle> Read(const std::string& path);
  static absl::StatusOr<Bundle> Parse(std::string bytes,
                                      std::string_view origin = "bundle");

  const bundle::BundleHeader& header() const { return header_; }
  uint64_t file_bytes() const { return bytes_.size(); }

  // The raw bytes of a tensor, checked for dtype and shape.
  absl::StatusOr<std::span<const uint8_t>> Raw(
      std::string_view name, std::string_view dtype,
      const std::vector<uint64_t>& shape) const;
  // A byte tensor, stored plain (u8) or zlib-compressed (u8z).
  absl::StatusOr<std::string> Bytes(std::string_view name) const;
  // A float tensor converted to f32: stored as f32, f16, or 2-D b1 sign bits
  // whose per-row scales are the tensor NAME.scale.
  absl::StatusOr<std::vector<float>> Floats(
      std::string_view name, const std::vector<uint64_t>& shape) const;

 private:
  Bundle(bundle::BundleHeader header, std::string bytes, uint64_t data_offset)
      : header_(std::move(header)),
        bytes_(std::move(bytes)),
        data_offset_(data_offset) {}

  bundle::BundleHeader header_;
  std::string bytes_;
  uint64_t data_offset_;
};

}  // namespace beex

#endif  // BEEX_ENGINE_BUNDLE_H_
