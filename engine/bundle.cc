#include "engine/bundle.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/half.h"
#include "google/protobuf/util/json_util.h"

namespace beex {
namespace {

constexpr char kMagic[8] = {'B', 'E', 'E', 'X', 'M', 'D', 'L', '\0'};
constexpr uint64_t kPrefixBytes = 24;
constexpr uint64_t kAlign = 64;

uint32_t LoadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // The format is little-endian, like x86.
  return v;
}

uint32_t Crc32(std::string_view s) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// UINT64_MAX for a product that overflows: no tensor can have that size, so
// a shape whose byte count wraps around never matches the declared size.
uint64_t Product(std::initializer_list<uint64_t> factors) {
  uint64_t n = 1;
  for (uint64_t f : factors) {
    if (__builtin_mul_overflow(n, f, &n)) return UINT64_MAX;
  }
  return n;
}

uint64_t ElementBytes(std::string_view dtype, const std::vector<uint64_t>& s) {
  uint64_t n = 1;
  for (uint64_t d : s) n = Product({n, d});
  if (dtype == "f32") return Product({4, n});
  if (dtype == "f16") return Product({2, n});
  if (dtype == "u8") return n;
  // Compressed bytes: the shape is the inflated length, any size is valid.
  if (dtype == "u8z") return 0;
  if (dtype == "b1" && s.size() == 2) {
    return Product({s[0], (s[1] + 63) / 64, 8});
  }
  return UINT64_MAX;
}

// deflate compresses at most 1032:1, so a longer declared length is a lie
// that would otherwise allocate it before inflating.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string ShapeString(const std::vector<uint64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

}  // namespace

absl::StatusOr<Bundle> Bundle::Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return Parse(std::move(buffer).str(), path);
}

absl::StatusOr<Bundle> Bundle::Parse(std::string bytes,
                                     std::string_view origin) {
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(origin), ": not a valid beex bundle: ", std::string(why)));
  };
  if (bytes.size() < kPrefixBytes) {
    return fail(absl::StrCat("file has ", bytes.size(),
                             " bytes, shorter than the 24-byte prefix"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return fail("bad magic (expected \"BEEXMDL\")");
  }
  const uint32_t version = LoadU32(bytes.data() + 8);
  if (version != kBundleFormatVersion) {
    return fail(absl::StrCat("format version ", version,
                             ", this server reads version ",
                             kBundleFormatVersion));
  }
  const uint64_t header_len = LoadU32(bytes.data() + 12);
  if (kPrefixBytes + header_len > bytes.size()) {
    return fail(absl::StrCat("truncated: header of ", header_len,
                             " bytes does not fit in ", bytes.size()));
  }
  const std::string_view header_json(bytes.data() + kPrefixBytes, header_len);
  if (Crc32(header_json) != LoadU32(bytes.data() + 16)) {
    return fail("header checksum mismatch (file corrupt)");
  }
  bundle::BundleHeader header;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // Newer writers may add fields.
  auto parsed = google::protobuf::util::JsonStringToMessage(
      std::string(header_json), &header, options);
  if (!parsed.ok()) {
    return fail(absl::StrCat("header is not valid JSON for BundleHeader: ",
                             parsed.message().as_string()));
  }
  const uint64_t data_offset =
      (kPrefixBytes + header_len + kAlign - 1) / kAlign * kAlign;
  // Compared without adding, which could wrap around past the file's end.
  if (data_offset > bytes.size() ||
      header.data_size() != bytes.size() - data_offset) {
    return fail(absl::StrCat("truncated or padded: expected ",
                             data_offset + header.data_size(), " bytes, found ",
                             bytes.size()));
  }
  if (Crc32(std::string_view(bytes).substr(data_offset)) !=
      header.data_crc32()) {
    return fail("data checksum mismatch (file corrupt)");
  }
  for (const auto& [name, t] : header.tensors()) {
    const std::vector<uint64_t> shape(t.shape().begin(), t.shape().end());
    const uint64_t want = ElementBytes(t.dtype(), shape);
    if (want != t.size() && !(t.dtype() == "u8z" && shape.size() == 1)) {
      return fail(absl::StrCat("tensor ", name, " (", t.dtype(), " ",
                               ShapeString(shape), ") declares ", t.size(),
                               " bytes"));
    }
    if (t.offset() > header.data_size() ||
        t.size() > header.data_size() - t.offset()) {
      return fail(absl::StrCat("tensor ", name, " lies outside the data"));
    }
  }
  return Bundle(std::move(header), std::move(bytes), data_offset);
}

absl::StatusOr<std::span<const uint8_t>> Bundle::Raw(
    std::string_view name, std::string_view dtype,
    const std::vector<uint64_t>& shape) const {
  auto it = header_.tensors().find(std::string(name));
  if (it == header_.tensors().end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle ", header_.name(), " lacks tensor ", std::string(name)));
  }
  const bundle::TensorInfo& t = it->second;
  const std::vector<uint64_t> got(t.shape().begin(), t.shape().end());
  if (t.dtype() != dtype || got != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name), " is ", t.dtype(), " ",
                     ShapeString(got), ", the architecture needs ",
                     std::string(dtype), " ", ShapeString(shape)));
  }
  return std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes_.data()) + data_offset_ +
          t.offset(),
      t.size());
}

absl::StatusOr<std::string> Bundle::Bytes(std::string_view name) const {
  auto it = header_.tensors().find(std::string(name));
  if (it == header_.tensors().end() || it->second.shape_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle ", header_.name(), " lacks byte tensor ", std::string(name)));
  }
  const bool compressed = it->second.dtype() == "u8z";
  const uint64_t length = it->second.shape(0);
  auto raw = Raw(name, compressed ? "u8z" : "u8", {length});
  if (!raw.ok()) return raw.status();
  if (!compressed) return std::string(raw->begin(), raw->end());
  if (length / kMaxDeflateRatio > raw->size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", std::string(name), " declares ", length,
        " bytes, more than ", raw->size(), " compressed bytes can inflate to"));
  }
  std::string out(length, '\0');
  uLongf out_len = length;
  if (uncompress(reinterpret_cast<Bytef*>(out.data()), &out_len, raw->data(),
                 raw->size()) != Z_OK ||
      out_len != length) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", std::string(name),
                     " does not inflate to its declared ", length, " bytes"));
  }
  return out;
}

absl::StatusOr<std::vector<float>> Bundle::Floats(
    std::string_view name, const std::vector<uint64_t>& shape) const {
  auto it = header_.tensors().find(std::string(name));
  if (it != header_.tensors().end() && it->second.dtype() == "b1" &&
      shape.size() == 2) {
    // Sign bits times the per-row scale of NAME.scale.
    auto bits = Raw(name, "b1", shape);
    if (!bits.ok()) return bits.status();
    auto scale = Floats(absl::StrCat(std::string(name), ".scale"), {shape[0]});
    if (!scale.ok()) return scale.status();
    const uint64_t words = (shape[1] + 63) / 64;
    std::vector<float> out(shape[0] * shape[1]);
    for (uint64_t row = 0; row < shape[0]; ++row) {
      for (uint64_t col = 0; col < shape[1]; ++col) {
        uint64_t word;
        std::memcpy(&word, bits->data() + 8 * (row * words + col / 64), 8);
        const bool negative = (word >> (col % 64)) & 1;
        out[row * shape[1] + col] = negative ? -(*scale)[row] : (*scale)[row];
      }
    }
    return out;
  }
  const std::string dtype =
      it != header_.tensors().end() && it->second.dtype() == "f16" ? "f16"
                                                                   : "f32";
  auto raw = Raw(name, dtype, shape);
  if (!raw.ok()) return raw.status();
  std::vector<float> out(raw->size() / (dtype == "f16" ? 2 : 4));
  if (dtype == "f32") {
    // A tensor may have no elements, and memcpy's pointers must not be null
    // even for no bytes (found by bundle_fuzz).
    if (!raw->empty()) std::memcpy(out.data(), raw->data(), raw->size());
  } else {
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, raw->data() + 2 * i, 2);
      out[i] = HalfToFloat(h);
    }
  }
  return out;
}

}  // namespace beex
