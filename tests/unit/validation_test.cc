#include "server/validation.h"

#include <string>

#include "gtest/gtest.h"

namespace beex {
namespace {

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac"),
            std::string_view::npos);
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x8f\xbf\xbf"),
            std::string_view::npos);  // U+10FFFF
}

TEST(Utf8Test, RejectsEachKindOfBadSequence) {
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2u);            // invalid byte
  EXPECT_EQ(FirstInvalidUtf8("a\xc3"), 1u);             // truncated
  EXPECT_EQ(FirstInvalidUtf8("\xc3\x28"), 0u);          // bad continuation
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xe0\x80\xaf"), 0u);      // overlong, 3 bytes
  EXPECT_EQ(FirstInvalidUtf8("x\xed\xa0\x80"), 1u);     // surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);              // lone continuation
}

TEST(ValidateTextTest, NamesTheFieldAndLimit) {
  RequestLimits limits;
  limits.max_text_bytes = 10;
  auto s = ValidateText("", "inputs[3].text", limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "inputs[3].text is empty or only whitespace");
  EXPECT_FALSE(ValidateText(" \t\n ", "f", limits).ok());
  s = ValidateText("01234567890", "inputs[0].text_pair", limits);
  EXPECT_EQ(s.message(), "inputs[0].text_pair has 11 bytes; the limit is 10");
  s = ValidateText("ok\xff", "f", limits);
  EXPECT_EQ(s.message(), "f is not valid UTF-8 (at byte 2)");
  EXPECT_TRUE(ValidateText("fine", "f", limits).ok());
}

TEST(ValidateTextTest, RefusesNulBytesWhereverTheyAre) {
  RequestLimits limits;
  using std::string_literals::operator""s;
  EXPECT_EQ(ValidateText("ab\0cd"s, "f", limits).message(),
            "f contains a NUL byte (at byte 2)");
  EXPECT_EQ(ValidateText("\0"s, "f", limits).message(),
            "f contains a NUL byte (at byte 0)");
  EXPECT_EQ(ValidateText("text\0"s, "f", limits).message(),
            "f contains a NUL byte (at byte 4)");
}

}  // namespace
}  // namespace beex
