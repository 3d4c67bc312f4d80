#ifndef BEEX_ENGINE_MODEL_H_
#define BEEX_ENGINE_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/bundle.h"
#include "engine/encoder.h"
#include "engine/exit_policy.h"
#include "engine/tokenizer.h"

namespace beex {

enum class Task { kClassification, kRegression };

// What a loaded model is, as clients see it.
struct ModelSpec {
  std::string name;
  Task task = Task::kClassification;
  std::vector<std::string> labels;
  float value_min = 0, value_max = 0;
  bool pair_input = false;
  int num_layers = 0;
  int max_tokens = 0;
  int hidden = 0;
  bool binarized = true;
  // Has learning-to-exit heads, which the `learned` exit policy reads.
  bool learned_exits = false;
  ExitSettings default_exit;
  uint64_t bundle_bytes = 0;
  uint32_t format_version = 0;
  std::map<std::string, std::string> metadata;
};

// Exit settings valid for `spec`: in range (ValidateExitSettings), and the
// `learned` policy only on a model with learning-to-exit heads (without them
// it would silently run every block).
absl::Status ValidateExitForModel(const ExitSettings& s, const ModelSpec& spec);

struct TextPair {
  std::string_view text;
  std::optional<std::string_view> text_pair;
};

// A tokenized input with its exit settings, ready for a batch.
struct PreparedInput {
  Tokens tokens;
  ExitSettings exit;
};

struct Prediction {
  int label_index = 0;        // classification
  std::vector<float> scores;  // classification: softmax probabilities
  float value = 0;            // regression, in label units
  int exit_layer = 0;         // 1-based
  int num_tokens = 0;
  int64_t compute_us = 0;  // from the batch's start to this exit
};

// A model bundle loaded for serving: text in, predictions out.
class Model {
 public:
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                                     std::string name = "");
  // The same from a bundle in memory; errors name `origin`.
  static absl::StatusOr<std::unique_ptr<Model>> FromBundle(
      const Bundle& bundle, std::string name = "",
      const std::string& origin = "bundle");

  const ModelSpec& spec() const { return spec_; }

  // Checks the input against the model (pair or single) and tokenizes it.
  // Thread-safe; runs on the caller's thread.
  absl::StatusOr<Tokens> Tokenize(const TextPair& input) const;

  // Runs a batch; one prediction per input, in order. Thread-safe.
  std::vector<Prediction> Predict(std::span<const PreparedInput> batch) const;

  // The outputs of every exit for each input, regardless of exit policy:
  // for tests against the training-time goldens.
  std::vector<std::vector<std::vector<float>>> TraceAllExits(
      std::span<const Tokens> inputs) const;

  // Every exit's output and learning-to-exit score for each input,
  // regardless of exit policy: what calibrating a policy sweeps over.
  struct ExitTrace {
    std::vector<std::vector<float>> outputs;  // per exit: logits, or raw value
    std::vector<float> lte;  // per exit; empty without LTE heads
  };
  std::vector<ExitTrace> TraceExits(std::span<const Tokens> inputs) const;

  Model(ModelSpec spec, Tokenizer tokenizer, std::unique_ptr<Encoder> encoder)
      : spec_(std::move(spec)),
        tokenizer_(std::move(tokenizer)),
        encoder_(std::move(encoder)) {}

 private:
  ModelSpec spec_;
  Tokenizer tokenizer_;
  std::unique_ptr<Encoder> encoder_;
};

}  // namespace beex

#endif  // BEEX_ENGINE_MODEL_H_
