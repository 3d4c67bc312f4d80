#ifndef BEEX_ENGINE_EXIT_POLICY_H_
#define BEEX_ENGINE_EXIT_POLICY_H_

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace beex {

// The rules of train/beex_train/policies.py; the two must agree so that a
// threshold calibrated in training means the same here.
enum class ExitPolicyKind {
  kNone,              // run every block (or max_layers)
  kEntropy,           // DeeBERT: normalised entropy < threshold
  kConfidence,        // max probability >= threshold
  kPatience,          // PABEE: `patience` agreeing blocks in a row
  kEntropyReduction,  // BEExformer: (H[i-1] - H[i]) / H[i-1] < threshold
  kLearned,  // BERxiT LTE: the block's head predicts "right" >= threshold
};

struct ExitSettings {
  ExitPolicyKind policy = ExitPolicyKind::kNone;
  float threshold = 0;
  int patience = 1;
  int max_layers = 0;  // 0: all
};

absl::StatusOr<ExitPolicyKind> ParseExitPolicy(std::string_view name);

// `defaults` with `policy` asked for: the same policy keeps the defaults'
// threshold and patience; another brings its own (threshold 0, patience 1),
// since the defaults' threshold was calibrated for their policy alone.
ExitSettings WithPolicy(const ExitSettings& defaults, ExitPolicyKind policy);
const char* ExitPolicyName(ExitPolicyKind kind);

// Checks settings against a model with `layers` blocks; the message names
// the offending field and its allowed range.
absl::Status ValidateExitSettings(const ExitSettings& s, int layers,
                                  bool regression);

// Normalised entropy of softmax(logits), in [0, 1]; writes the
// probabilities to `probs` (same size as logits).
float SoftmaxEntropy(std::span<const float> logits, std::span<float> probs);

// The exit decision for one sample, fed block by block.
class ExitTracker {
 public:
  ExitTracker(const ExitSettings& settings, bool regression)
      : s_(settings), regression_(regression) {}

  // `output`: the exit's logits (classification) or its value in label units
  // (regression); `lte`: the block's learning-to-exit head output in [0, 1]
  // (read by kLearned only). Returns true when the sample should leave here.
  bool Observe(std::span<const float> output, float lte = 0.0f);

 private:
  ExitSettings s_;
  bool regression_;
  int blocks_seen_ = 0;
  int streak_ = 0;
  float previous_entropy_ = 0;
  float previous_value_ = 0;
  int previous_argmax_ = -1;
};

}  // namespace beex

#endif  // BEEX_ENGINE_EXIT_POLICY_H_
