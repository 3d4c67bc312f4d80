#ifndef BEEX_SERVER_MODEL_REGISTRY_H_
#define BEEX_SERVER_MODEL_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/model_runner.h"

namespace beex {

// The models being served, by name. Reloading swaps in a new runner only
// after its bundle loaded and warmed; the old runner then finishes what was
// queued on it, so a reload drops no call. A bundle that fails to load
// leaves the old runner serving.
class ModelRegistry {
 public:
  // `runner_options` but their batching, which each model brings to Load.
  explicit ModelRegistry(RunnerOptions runner_options)
      : runner_options_(std::move(runner_options)) {}
  ~ModelRegistry() { StopAll(); }

  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads and warms `path` as model `name`, batched by `batching`,
  // replacing the runner of that name if there is one. Blocks until a
  // replaced runner has finished its queued work. On error the registry is
  // unchanged.
  absl::Status Load(const std::string& name, const std::string& path,
                    const BatcherOptions& batching);

  // Loads every model again from the path and with the batching it was last
  // loaded with. Models that fail keep their old runner; the status names
  // each failure.
  absl::Status ReloadAll();

  // Runs `fn` on the named runner while no reload can retire it, so that
  // inputs tokenized by one model's tokenizer are queued on that same
  // model. NOT_FOUND when no such model is loaded.
  absl::Status WithRunner(
      const std::string& name,
      absl::FunctionRef<absl::Status(ModelRunner&)> fn) const;

  std::shared_ptr<ModelRunner> Get(const std::string& name) const;
  // Every runner, ordered by name.
  std::vector<std::shared_ptr<ModelRunner>> All() const;
  size_t size() const;

  // Stops every runner (queued work finishes); Load after this fails.
  void StopAll();

 private:
  struct Entry {
    std::string path;
    BatcherOptions batching;
    std::shared_ptr<ModelRunner> runner;
  };

  const RunnerOptions runner_options_;
  absl::Mutex load_mu_;  // one Load at a time; held while loading
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> models_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// Runs one input through every block so that the first real request does
// not pay for primitive creation.
void WarmUp(const Model& model);

}  // namespace beex

#endif  // BEEX_SERVER_MODEL_REGISTRY_H_
