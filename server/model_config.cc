#include "server/model_config.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace beex {
namespace {

// Reads VALUE into a setting of at least `min`; each key may be set once.
template <typename T>
absl::Status SetOnce(absl::string_view key, absl::string_view value,
                     int64_t min, std::optional<T>& setting,
                     T (*convert)(int64_t)) {
  if (setting.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(key, " is given twice"));
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < min || n > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, "=", value, " is not a whole number from ", min,
                     " to ", int64_t{1} << 30));
  }
  setting = convert(n);
  return absl::OkStatus();
}

size_t ToSize(int64_t n) { return static_cast<size_t>(n); }
int ToInt(int64_t n) { return static_cast<int>(n); }
absl::Duration ToMicros(int64_t n) { return absl::Microseconds(n); }

absl::Status SetOverride(absl::string_view key, absl::string_view value,
                         BatchingOverrides& b) {
  if (key == "max_batch_size") {
    return SetOnce(key, value, 1, b.max_batch_size, ToSize);
  }
  if (key == "max_batch_tokens") {
    return SetOnce(key, value, 0, b.max_batch_tokens, ToSize);
  }
  if (key == "max_batch_delay_us") {
    return SetOnce(key, value, 0, b.max_delay, ToMicros);
  }
  if (key == "max_queue") return SetOnce(key, value, 1, b.max_queue, ToSize);
  if (key == "batch_threads") {
    return SetOnce(key, value, 1, b.num_workers, ToInt);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown setting '", key,
      "' (known: max_batch_size, max_batch_tokens, max_batch_delay_us, "
      "max_queue, batch_threads)"));
}

}  // namespace

BatcherOptions BatchingOverrides::Over(BatcherOptions base) const {
  if (max_batch_size) base.max_batch_size = *max_batch_size;
  if (max_batch_tokens) base.max_batch_tokens = *max_batch_tokens;
  if (max_delay) base.max_delay = *max_delay;
  if (max_queue) base.max_queue = *max_queue;
  if (num_workers) base.num_workers = *num_workers;
  return base;
}

absl::StatusOr<ModelConfig> ParseModelFlag(absl::string_view flag) {
  auto invalid = [flag](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--model '", flag, "': ", why, "; expected NAME=PATH[,KEY=VALUE...]"));
  };
  // A comma ends the path, so a path with a comma in it is refused below
  // rather than cut silently: its tail is no KEY=VALUE.
  std::vector<absl::string_view> parts = absl::StrSplit(flag, ',');
  const absl::string_view head = parts.front();
  const size_t eq = head.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 == head.size()) {
    return invalid("no NAME=PATH");
  }
  ModelConfig config{
      std::string(head.substr(0, eq)), std::string(head.substr(eq + 1)), {}};
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t kv = parts[i].find('=');
    if (kv == absl::string_view::npos || kv == 0) {
      return invalid(absl::StrCat("'", parts[i], "' is not KEY=VALUE"));
    }
    if (absl::Status s = SetOverride(parts[i].substr(0, kv),
                                     parts[i].substr(kv + 1), config.batching);
        !s.ok()) {
      return invalid(s.message());
    }
  }
  return config;
}

int BusiestModelWorkers(int server_workers,
                        std::span<const ModelConfig> models) {
  if (models.empty()) return std::max(1, server_workers);
  int most = 1;
  for (const ModelConfig& m : models) {
    most = std::max(most, m.batching.num_workers.value_or(server_workers));
  }
  return most;
}

}  // namespace beex
