#include "engine/bundle.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "engine/half.h"
#include "engine/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using ::testing::HasSubstr;

std::string BundleBytes() {
  return testing::ReadFile(testing::SourcePath("models/sst2.beex"));
}

uint32_t HeaderLength(const std::string& b) {
  uint32_t n;
  std::memcpy(&n, b.data() + 12, 4);
  return n;
}

// Replaces the JSON header, fixing its length and checksum, so a test can
// reach the checks behind the checksum.
std::string WithHeader(const std::string& b, const std::string& header) {
  const uint32_t old_len = HeaderLength(b);
  const size_t old_data = (24 + old_len + 63) / 64 * 64;
  std::string out = b.substr(0, 24) + header;
  out.resize((out.size() + 63) / 64 * 64, '\0');
  out += b.substr(old_data);
  const uint32_t len = header.size();
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(header.data()), header.size());
  std::memcpy(out.data() + 12, &len, 4);
  std::memcpy(out.data() + 16, &crc, 4);
  return out;
}

std::string Header(const std::string& b) {
  return b.substr(24, HeaderLength(b));
}

// The bundle with the first numeric `key` of its header set to `value`.
std::string WithHeaderNumber(const std::string& b, const std::string& key,
                             const std::string& value) {
  std::string header = Header(b);
  // The writer may or may not put a space after the colon.
  const std::string field = "\"" + key + "\":";
  const size_t at = header.find(field);
  EXPECT_NE(at, std::string::npos) << key;
  const size_t start = header.find_first_not_of(' ', at + field.size());
  header.replace(start, header.find_first_of(",\n}", start) - start, value);
  return WithHeader(b, header);
}

TEST(BundleTest, ReadsTheBundledModel) {
  auto b = Bundle::Parse(BundleBytes());
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->header().task(), "classification");
  EXPECT_GT(b->header().architecture().layers(), 1u);
}

TEST(BundleTest, MissingFileIsNotFound) {
  auto b = Bundle::Read("/nonexistent/model.beex");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
}

TEST(BundleTest, RefusesEveryTruncation) {
  const std::string bytes = BundleBytes();
  for (size_t len : {size_t{0}, size_t{7}, size_t{23}, size_t{100},
                     bytes.size() / 2, bytes.size() - 1}) {
    auto b = Bundle::Parse(bytes.substr(0, len));
    ASSERT_FALSE(b.ok()) << "length " << len;
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(b.status().message(), HasSubstr("not a valid beex bundle"));
  }
  EXPECT_THAT(
      Bundle::Parse(bytes.substr(0, bytes.size() - 1)).status().message(),
      HasSubstr("truncated"));
}

TEST(BundleTest, RefusesBadMagic) {
  std::string bytes = BundleBytes();
  bytes[0] = 'X';
  EXPECT_THAT(Bundle::Parse(bytes).status().message(), HasSubstr("bad magic"));
}

TEST(BundleTest, RefusesOtherFormatVersions) {
  std::string bytes = BundleBytes();
  const uint32_t v = 99;
  std::memcpy(bytes.data() + 8, &v, 4);
  EXPECT_THAT(Bundle::Parse(bytes).status().message(),
              HasSubstr("format version 99"));
}

TEST(BundleTest, DetectsCorruptData) {
  std::string bytes = BundleBytes();
  bytes[bytes.size() - 10] ^= 0x40;
  EXPECT_THAT(Bundle::Parse(bytes).status().message(),
              HasSubstr("data checksum mismatch"));
}

TEST(BundleTest, DetectsCorruptHeader) {
  std::string bytes = BundleBytes();
  bytes[30] ^= 0x01;
  EXPECT_THAT(Bundle::Parse(bytes).status().message(),
              HasSubstr("header checksum mismatch"));
}

TEST(BundleTest, RefusesHeaderThatIsNotJson) {
  auto b = Bundle::Parse(WithHeader(BundleBytes(), "{not json"));
  EXPECT_THAT(b.status().message(), HasSubstr("not valid JSON"));
}

TEST(BundleTest, RefusesTensorOutsideData) {
  auto b =
      Bundle::Parse(WithHeaderNumber(BundleBytes(), "offset", "999999999"));
  EXPECT_THAT(b.status().message(), HasSubstr("lies outside the data"));
}

TEST(BundleTest, ModelRefusesWrongArchitecture) {
  const std::string path = ::testing::TempDir() + "/wrong_hidden.beex";
  {
    std::ofstream out(path, std::ios::binary);
    out << WithHeaderNumber(BundleBytes(), "hidden", "96");
  }
  auto m = Model::Load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("the architecture needs"));
}

TEST(HalfTest, ConvertsEveryClassOfValue) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001),
            5.9604644775390625e-08f);                      // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), 6.097555160522461e-05f);  // largest subnormal
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
}

}  // namespace
}  // namespace beex
