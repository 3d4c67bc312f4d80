// The bundle loader (engine/bundle.h) on arbitrary bytes: it must return
// errors, never crash, and what it accepts must be readable.
// First byte bit 0 clear: the rest is a bundle file as is. Set: the rest is
// "header JSON \0 data", framed here with a correct prefix and header CRC,
// and with each "$CRC" in the header replaced by the data's CRC, so the
// fuzzer gets past the checksums to the header and tensor checks.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/bundle.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian, as the format
  out.append(b, 4);
}

uint32_t Crc32(std::string_view s) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

std::string Frame(std::string_view header_template, std::string_view data) {
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
  PutU32(out, beex::kBundleFormatVersion);
  PutU32(out, static_cast<uint32_t>(header.size()));
  PutU32(out, Crc32(header));
  PutU32(out, 0);
  out.append(header);
  out.resize((out.size() + 63) / 64 * 64, '\0');
  out.append(data);
  return out;
}

// Reads every tensor the way the engine would; ASan checks the bounds.
void ReadAll(const beex::Bundle& bundle) {
  for (const auto& [name, t] : bundle.header().tensors()) {
    const std::vector<uint64_t> shape(t.shape().begin(), t.shape().end());
    auto raw = bundle.Raw(name, t.dtype(), shape);
    FUZZ_CHECK(raw.ok());
    FUZZ_CHECK(raw->size() == t.size());
    uint64_t sum = 0;
    for (uint8_t byte : *raw) sum += byte;
    (void)sum;
    if (t.dtype() == "u8" || t.dtype() == "u8z") {
      auto bytes = bundle.Bytes(name);
      if (bytes.ok()) FUZZ_CHECK(bytes->size() == shape[0]);
    } else if (t.dtype() == "f32" || t.dtype() == "f16" || t.dtype() == "b1") {
      auto floats = bundle.Floats(name, shape);
      if (floats.ok()) {
        uint64_t n = 1;
        for (uint64_t d : shape) n *= d;
        FUZZ_CHECK(floats->size() == n);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  std::string bytes;
  if (data[0] & 1) {
    const size_t nul = rest.find('\0');
    const std::string_view header = rest.substr(0, nul);
    const std::string_view body =
        nul == rest.npos ? std::string_view() : rest.substr(nul + 1);
    bytes = Frame(header, body);
  } else {
    bytes = std::string(rest);
  }
  auto bundle = beex::Bundle::Parse(std::move(bytes), "fuzz");
  if (!bundle.ok()) {
    FUZZ_CHECK(bundle.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  ReadAll(*bundle);
  return 0;
}
