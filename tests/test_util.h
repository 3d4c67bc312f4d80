#ifndef BEEX_TESTS_TEST_UTIL_H_
#define BEEX_TESTS_TEST_UTIL_H_

#include <fstream>
#include <sstream>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace beex::testing {

inline std::string SourcePath(const std::string& rel) {
  return std::string(BEEX_SOURCE_DIR) + "/" + rel;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Any JSON document, as a protobuf Struct.
inline google::protobuf::Struct ReadJson(const std::string& path) {
  google::protobuf::Struct out;
  const auto status =
      google::protobuf::util::JsonStringToMessage(ReadFile(path), &out);
  EXPECT_TRUE(status.ok()) << path << ": " << status.ToString();
  return out;
}

}  // namespace beex::testing

#endif  // BEEX_TESTS_TEST_UTIL_H_
