#include "server/model_registry.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace beex {

void WarmUp(const Model& model) {
  const ModelSpec& spec = model.spec();
  auto tokens = model.Tokenize(
      {"warm up", spec.pair_input ? std::optional<std::string_view>("warm up")
                                  : std::nullopt});
  if (!tokens.ok()) return;
  PreparedInput input{*std::move(tokens), ExitSettings{}};
  model.Predict(std::span<const PreparedInput>(&input, 1));
}

absl::Status ModelRegistry::Load(const std::string& name,
                                 const std::string& path,
                                 const BatcherOptions& batching) {
  absl::MutexLock load_lock(&load_mu_);
  const absl::Time start = absl::Now();
  auto model = Model::Load(path, name);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("model ", name, " from ", path, ": ",
                                     model.status().message()));
  }
  WarmUp(**model);
  const ModelSpec& spec = (*model)->spec();
  spdlog::info(
      "loaded model {} from {} in {} ms: {}, {} blocks, hidden {}, {} bytes, "
      "default exit {} (threshold {}, patience {}); batch {} inputs / {} "
      "tokens / {} us, queue {} inputs, {} batch thread(s)",
      name, path, absl::ToInt64Milliseconds(absl::Now() - start),
      spec.task == Task::kRegression ? "regression" : "classification",
      spec.num_layers, spec.hidden, spec.bundle_bytes,
      ExitPolicyName(spec.default_exit.policy), spec.default_exit.threshold,
      spec.default_exit.patience, batching.max_batch_size,
      batching.max_batch_tokens, absl::ToInt64Microseconds(batching.max_delay),
      batching.max_queue, batching.num_workers);
  RunnerOptions options = runner_options_;
  options.batching = batching;
  auto runner = std::make_shared<ModelRunner>(
      std::shared_ptr<const Model>(*std::move(model)), std::move(options));
  std::shared_ptr<ModelRunner> old;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) {
      runner->Stop();
      return absl::UnavailableError("the server is stopping");
    }
    Entry& e = models_[name];
    old = std::move(e.runner);
    e = {path, batching, std::move(runner)};
  }
  if (old != nullptr) {
    // No new input reaches `old` (WithRunner holds mu_ while queueing);
    // finish what it has before letting go.
    old->Stop();
    spdlog::info("model {} replaced; the previous version finished its queue",
                 name);
  }
  return absl::OkStatus();
}

absl::Status ModelRegistry::ReloadAll() {
  struct Source {
    std::string name, path;
    BatcherOptions batching;
  };
  // Not the entries themselves: their runners would live on after Load
  // retired them, two versions of every model in memory until the end.
  std::vector<Source> sources;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, e] : models_) {
      sources.push_back({name, e.path, e.batching});
    }
  }
  std::vector<std::string> errors;
  for (const auto& [name, path, batching] : sources) {
    if (auto s = Load(name, path, batching); !s.ok()) {
      spdlog::error(
          "reload of model {} failed, the loaded version keeps "
          "serving: {}",
          name, s.ToString());
      errors.push_back(s.ToString());
    }
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrJoin(errors, "; "));
}

absl::Status ModelRegistry::WithRunner(
    const std::string& name,
    absl::FunctionRef<absl::Status(ModelRunner&)> fn) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(
        absl::StrCat("model '", name, "' is not loaded"));
  }
  return fn(*it->second.runner);
}

std::shared_ptr<ModelRunner> ModelRegistry::Get(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second.runner;
}

std::vector<std::shared_ptr<ModelRunner>> ModelRegistry::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<ModelRunner>> out;
  for (const auto& [name, e] : models_) out.push_back(e.runner);
  return out;
}

size_t ModelRegistry::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return models_.size();
}

void ModelRegistry::StopAll() {
  std::vector<std::shared_ptr<ModelRunner>> runners;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    for (const auto& [name, e] : models_) runners.push_back(e.runner);
  }
  for (auto& r : runners) r->Stop();
}

}  // namespace beex
