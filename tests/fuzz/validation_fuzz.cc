// Request validation (server/validation.h) on arbitrary bytes.
// FirstInvalidUtf8 is checked against a decoder written another way, from
// the well-formed byte sequences of Unicode Table 3-7, so the fuzzer finds
// wrong answers as well as crashes.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

size_t ReferenceFirstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (b0 <= 0x7f) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2;
    } else if (b0 == 0xe0) {
      len = 3, lo = 0xa0;
    } else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 == 0xee || b0 == 0xef) {
      len = 3;
    } else if (b0 == 0xed) {
      len = 3, hi = 0x9f;
    } else if (b0 == 0xf0) {
      len = 4, lo = 0x90;
    } else if (b0 >= 0xf1 && b0 <= 0xf3) {
      len = 4;
    } else if (b0 == 0xf4) {
      len = 4, hi = 0x8f;
    } else {
      return i;
    }
    if (s.size() - i < len) return i;
    const auto b1 = static_cast<uint8_t>(s[i + 1]);
    if (b1 < lo || b1 > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if (b < 0x80 || b > 0xbf) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t bad = beex::FirstInvalidUtf8(text);
  FUZZ_CHECK(bad == ReferenceFirstInvalidUtf8(text));

  // The first byte picks a text limit, so the length check is reached too.
  const beex::RequestLimits limits{
      .max_inputs = 1, .max_text_bytes = size == 0 ? 0u : data[0] * 4u};
  const absl::Status st = beex::ValidateText(text, "inputs[3].text", limits);
  bool blank = true;
  for (char c : text) {
    blank = blank && absl::ascii_isspace(static_cast<unsigned char>(c));
  }
  const size_t nul = text.find('\0');
  const bool ok = size <= limits.max_text_bytes &&
                  bad == std::string_view::npos &&
                  nul == std::string_view::npos && !blank;
  FUZZ_CHECK(st.ok() == ok);
  if (!ok) {
    FUZZ_CHECK(st.code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(st.message(), "inputs[3].text "));
    if (size <= limits.max_text_bytes && bad != std::string_view::npos) {
      FUZZ_CHECK(
          absl::StrContains(st.message(), absl::StrCat("(at byte ", bad, ")")));
    }
    if (size <= limits.max_text_bytes && bad == std::string_view::npos &&
        nul != std::string_view::npos) {
      FUZZ_CHECK(absl::StrContains(
          st.message(), absl::StrCat("NUL byte (at byte ", nul, ")")));
    }
  }
  return 0;
}
