#include "server/access_log.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace beex {
namespace {

// Client-controlled text is written C-escaped, so a model name cannot forge
// log lines or smuggle terminal controls.
std::string Quote(std::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(std::string(s)), "\"");
}

}  // namespace

AccessLog::AccessLog(double max_lines_per_second,
                     std::shared_ptr<spdlog::logger> logger)
    : rate_(std::max(0.0, max_lines_per_second)),
      logger_(logger ? std::move(logger) : spdlog::default_logger()),
      capacity_(rate_ > 0 ? std::max(1.0, rate_) : 0.0),
      tokens_(capacity_) {}

AccessLog::~AccessLog() {
  absl::MutexLock lock(&mu_);
  if (pending_ > 0) {
    logger_->info("access: {} lines suppressed by the rate limit of {}/s",
                  pending_, rate_);
  }
}

void AccessLog::LogAt(const Entry& e, absl::Time now) {
  uint64_t report = 0;
  {
    absl::MutexLock lock(&mu_);
    if (last_ != absl::InfinitePast() && now > last_) {
      tokens_ = std::min(capacity_,
                         tokens_ + rate_ * absl::ToDoubleSeconds(now - last_));
    }
    last_ = std::max(last_, now);
    if (tokens_ < 1.0) {
      ++pending_;
      ++suppressed_total_;
      return;
    }
    tokens_ -= 1.0;
    report = std::exchange(pending_, 0);
  }
  if (report > 0) {
    logger_->info("access: {} lines suppressed by the rate limit of {}/s",
                  report, rate_);
  }
  logger_->info(
      "access: peer={} method={} model={} inputs={} code={} ms={:.3f}",
      Quote(e.peer), e.method, Quote(e.model), e.inputs,
      // gRPC's status codes are Abseil's, number for number.
      absl::StatusCodeToString(static_cast<absl::StatusCode>(e.code)),
      e.seconds * 1e3);
}

uint64_t AccessLog::suppressed_total() const {
  absl::MutexLock lock(&mu_);
  return suppressed_total_;
}

}  // namespace beex
