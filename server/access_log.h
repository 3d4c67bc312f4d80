#ifndef BEEX_SERVER_ACCESS_LOG_H_
#define BEEX_SERVER_ACCESS_LOG_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/logger.h"

namespace beex {

// One line per RPC through spdlog, at most `max_lines_per_second` on average
// (a token bucket holding one second's worth), so an overload does not turn
// into a logging storm. Lines over the limit are counted, and the count is
// written before the next line that gets through. Thread-safe.
class AccessLog {
 public:
  struct Entry {
    std::string_view peer;    // grpc::ServerContext::peer()
    std::string_view method;  // "Classify", ...
    std::string_view model;   // as the client sent it
    int code = 0;             // a grpc::StatusCode, written as its name
    int inputs = 0;
    double seconds = 0;
  };

  // `logger` null: spdlog's default logger. A rate of 0 writes nothing.
  explicit AccessLog(double max_lines_per_second,
                     std::shared_ptr<spdlog::logger> logger = nullptr);
  // Reports lines still suppressed.
  ~AccessLog();

  void Log(const Entry& e) { LogAt(e, absl::Now()); }
  // Log at a given time; tests drive the clock with it.
  void LogAt(const Entry& e, absl::Time now);

  // Lines not written since the start.
  uint64_t suppressed_total() const;

 private:
  const double rate_;
  const std::shared_ptr<spdlog::logger> logger_;
  const double capacity_;  // a burst of one second, and at least one line
  mutable absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // suppressed, not yet reported
  uint64_t suppressed_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace beex

#endif  // BEEX_SERVER_ACCESS_LOG_H_
