#ifndef BEEX_SERVER_VALIDATION_H_
#define BEEX_SERVER_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace beex {

struct RequestLimits {
  size_t max_inputs = 256;        // inputs per request
  size_t max_text_bytes = 16384;  // per text
};

// Byte offset of the first invalid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or npos.
size_t FirstInvalidUtf8(std::string_view s);

// INVALID_ARGUMENT naming `field` when the text is empty, only whitespace,
// longer than the limit, not UTF-8, or holds a NUL byte.
absl::Status ValidateText(std::string_view text, const std::string& field,
                          const RequestLimits& limits);

}  // namespace beex

#endif  // BEEX_SERVER_VALIDATION_H_
