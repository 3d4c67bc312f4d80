#include "server/validation.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace beex {

size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > s.size()) return i;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

absl::Status ValidateText(std::string_view text, const std::string& field,
                          const RequestLimits& limits) {
  if (text.size() > limits.max_text_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " has ", text.size(),
                                                   " bytes; the limit is ",
                                                   limits.max_text_bytes));
  }
  if (const size_t bad = FirstInvalidUtf8(text);
      bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not valid UTF-8 (at byte ", bad, ")"));
  }
  // Valid UTF-8, but never text: a NUL is a client's encoding slip (UTF-16
  // sent as bytes, a C buffer sent whole), and classifying it is silent
  // garbage.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " contains a NUL byte (at byte ", nul, ")"));
  }
  bool blank = true;
  for (char c : text)
    blank = blank && absl::ascii_isspace(static_cast<unsigned char>(c));
  if (blank) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is empty or only whitespace"));
  }
  return absl::OkStatus();
}

}  // namespace beex
