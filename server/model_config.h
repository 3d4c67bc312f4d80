#ifndef BEEX_SERVER_MODEL_CONFIG_H_
#define BEEX_SERVER_MODEL_CONFIG_H_

#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/batcher.h"

namespace beex {

// Batching settings one model sets for itself; unset ones come from the
// server's (--max_batch_size and the rest), as Triton's per-model
// dynamic_batching overrides its defaults. Models differ: a pair model's
// inputs are twice as long as a sentence model's, and a model that serves
// interactive traffic wants a shorter delay than one serving bulk jobs.
struct BatchingOverrides {
  std::optional<size_t> max_batch_size;
  std::optional<size_t> max_batch_tokens;
  std::optional<absl::Duration> max_delay;
  std::optional<size_t> max_queue;
  std::optional<int> num_workers;

  BatcherOptions Over(BatcherOptions base) const;
};

struct ModelConfig {
  std::string name;
  std::string path;  // the .beex bundle
  BatchingOverrides batching = {};
};

// Parses --model's value: NAME=PATH, optionally followed by comma-separated
// KEY=VALUE batching settings named as the server's flags
// (max_batch_size, max_batch_tokens, max_batch_delay_us, max_queue,
// batch_threads), e.g. "stsb=models/stsb.beex,max_batch_size=8".
absl::StatusOr<ModelConfig> ParseModelFlag(absl::string_view flag);

// The most batches that one model computes at once: its own batch_threads,
// or the server's `server_workers` where it has none. The engine's compute
// pool is process-wide, so --intra_op_threads 0 shares the cores among this
// many batches (IntraOpThreadsSharing): sized for fewer, that model's
// concurrent batches would oversubscribe the cores.
int BusiestModelWorkers(int server_workers,
                        std::span<const ModelConfig> models);

}  // namespace beex

#endif  // BEEX_SERVER_MODEL_CONFIG_H_
