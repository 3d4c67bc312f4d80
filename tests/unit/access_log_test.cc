#include "server/access_log.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace beex {
namespace {

class AccessLogTest : public ::testing::Test {
 protected:
  std::shared_ptr<spdlog::logger> Logger() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("access_test", sink);
    logger->set_level(spdlog::level::info);
    return logger;
  }
  std::vector<std::string> Lines() const {
    return absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  }

  std::ostringstream out_;
  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
  const AccessLog::Entry entry_{
      "ipv4:127.0.0.1:4000", "Classify", "sst2", /*code=*/0, 3, 0.0012345};
};

TEST_F(AccessLogTest, WritesOneLinePerCall) {
  AccessLog log(100, Logger());
  log.LogAt(entry_, t0_);
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_EQ(Lines()[0],
            "access: peer=\"ipv4:127.0.0.1:4000\" method=Classify "
            "model=\"sst2\" inputs=3 code=OK ms=1.234");
}

TEST_F(AccessLogTest, WritesTheStatusCodeByName) {
  AccessLog log(100, Logger());
  AccessLog::Entry e = entry_;
  e.code = 8;  // RESOURCE_EXHAUSTED
  log.LogAt(e, t0_);
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_NE(Lines()[0].find(" code=RESOURCE_EXHAUSTED "), std::string::npos)
      << Lines()[0];
}

TEST_F(AccessLogTest, LimitsTheRateAndReportsWhatItDropped) {
  AccessLog log(2, Logger());
  // A burst of 10 in one instant: the bucket holds 2.
  for (int i = 0; i < 10; ++i) log.LogAt(entry_, t0_);
  EXPECT_EQ(Lines().size(), 2u);
  EXPECT_EQ(log.suppressed_total(), 8u);
  // Half a second later one token is back; the line says what was dropped.
  log.LogAt(entry_, t0_ + absl::Milliseconds(500));
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], "access: 8 lines suppressed by the rate limit of 2/s");
  EXPECT_EQ(lines[3].rfind("access: peer=", 0), 0u);
  // Steady 2/s passes entirely.
  for (int i = 1; i <= 6; ++i) {
    log.LogAt(entry_, t0_ + absl::Milliseconds(500 + 500 * i));
  }
  EXPECT_EQ(Lines().size(), 10u);
  EXPECT_EQ(log.suppressed_total(), 8u);
}

TEST_F(AccessLogTest, ReportsSuppressedLinesAtTheEnd) {
  {
    AccessLog log(1, Logger());
    log.LogAt(entry_, t0_);
    log.LogAt(entry_, t0_);
    log.LogAt(entry_, t0_);
  }
  const auto lines = Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "access: 2 lines suppressed by the rate limit of 1/s");
}

TEST_F(AccessLogTest, RatesBelowOnePerSecondStillLog) {
  AccessLog log(0.5, Logger());
  log.LogAt(entry_, t0_);
  log.LogAt(entry_, t0_ + absl::Seconds(1));
  log.LogAt(entry_, t0_ + absl::Seconds(3));
  EXPECT_EQ(log.suppressed_total(), 1u);
  EXPECT_EQ(Lines().size(), 3u);  // two entries and one report
}

TEST_F(AccessLogTest, ClientTextCannotForgeLines) {
  AccessLog log(100, Logger());
  AccessLog::Entry e = entry_;
  e.model = "x\naccess: forged \"line\"";
  log.LogAt(e, t0_);
  ASSERT_EQ(Lines().size(), 1u);
  EXPECT_NE(Lines()[0].find("model=\"x\\naccess: forged \\\"line\\\"\""),
            std::string::npos)
      << Lines()[0];
}

}  // namespace
}  // namespace beex
