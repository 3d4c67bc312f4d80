#include "engine/exit_policy.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

namespace beex {
namespace {

struct PolicyName {
  ExitPolicyKind kind;
  const char* name;
};
constexpr std::array<PolicyName, 6> kPolicyNames = {{
    {ExitPolicyKind::kNone, "none"},
    {ExitPolicyKind::kEntropy, "entropy"},
    {ExitPolicyKind::kConfidence, "confidence"},
    {ExitPolicyKind::kPatience, "patience"},
    {ExitPolicyKind::kEntropyReduction, "entropy_reduction"},
    {ExitPolicyKind::kLearned, "learned"},
}};

}  // namespace

absl::StatusOr<ExitPolicyKind> ParseExitPolicy(std::string_view name) {
  for (const auto& p : kPolicyNames) {
    if (p.name == name) return p.kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown exit policy '", std::string(name),
      "' (none, entropy, confidence, patience, entropy_reduction, learned)"));
}

ExitSettings WithPolicy(const ExitSettings& defaults, ExitPolicyKind policy) {
  if (policy == defaults.policy) return defaults;
  return ExitSettings{policy, 0.0f, 1, 0};
}

const char* ExitPolicyName(ExitPolicyKind kind) {
  for (const auto& p : kPolicyNames) {
    if (p.kind == kind) return p.name;
  }
  return "unknown";
}

absl::Status ValidateExitSettings(const ExitSettings& s, int layers,
                                  bool regression) {
  if (s.max_layers < 0 || s.max_layers > layers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exit.max_layers is ", s.max_layers, "; allowed 0..", layers));
  }
  if (regression && s.policy != ExitPolicyKind::kNone &&
      s.policy != ExitPolicyKind::kPatience &&
      s.policy != ExitPolicyKind::kLearned) {
    return absl::InvalidArgumentError(
        absl::StrCat("exit.policy ", ExitPolicyName(s.policy),
                     " needs class probabilities; regression models take "
                     "none, patience or learned"));
  }
  if (!std::isfinite(s.threshold)) {
    return absl::InvalidArgumentError("exit.threshold is not finite");
  }
  switch (s.policy) {
    case ExitPolicyKind::kNone:
      break;
    case ExitPolicyKind::kEntropy:
    case ExitPolicyKind::kConfidence:
    case ExitPolicyKind::kEntropyReduction:
    case ExitPolicyKind::kLearned:
      if (s.threshold < 0 || s.threshold > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("exit.threshold is ", s.threshold, " for policy ",
                         ExitPolicyName(s.policy), "; allowed 0..1"));
      }
      break;
    case ExitPolicyKind::kPatience:
      if (s.patience < 1 || s.patience > layers - 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "exit.patience is ", s.patience, "; allowed 1..", layers - 1));
      }
      if (regression && s.threshold <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("exit.threshold is ", s.threshold,
                         "; patience on a regression model needs a "
                         "threshold above 0 (label units)"));
      }
      break;
  }
  return absl::OkStatus();
}

float SoftmaxEntropy(std::span<const float> logits, std::span<float> probs) {
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probs[i] = std::exp(logits[i] - top);
    sum += probs[i];
  }
  double entropy = 0;
  for (float& p : probs) {
    p = static_cast<float>(p / sum);
    if (p > 0) entropy -= p * std::log(p);
  }
  return logits.size() > 1
             ? static_cast<float>(entropy / std::log(logits.size()))
             : 0.0f;
}

bool ExitTracker::Observe(std::span<const float> output, float lte) {
  const int block = blocks_seen_++;
  if (s_.policy == ExitPolicyKind::kNone) return false;
  if (s_.policy == ExitPolicyKind::kLearned) return lte >= s_.threshold;
  if (regression_) {  // Only patience is valid here (validated).
    const float value = output[0];
    if (block > 0) {
      streak_ =
          std::fabs(value - previous_value_) < s_.threshold ? streak_ + 1 : 0;
    }
    previous_value_ = value;
    return streak_ >= s_.patience;
  }
  std::vector<float> probs(output.size());
  const float entropy = SoftmaxEntropy(output, probs);
  const int argmax = static_cast<int>(
      std::max_element(probs.begin(), probs.end()) - probs.begin());
  bool stop = false;
  switch (s_.policy) {
    case ExitPolicyKind::kNone:
    case ExitPolicyKind::kLearned:  // decided above
      break;
    case ExitPolicyKind::kEntropy:
      stop = entropy < s_.threshold;
      break;
    case ExitPolicyKind::kConfidence:
      stop = probs[argmax] >= s_.threshold;
      break;
    case ExitPolicyKind::kEntropyReduction:
      if (block > 0) {
        const float reduction =
            previous_entropy_ > 0
                ? (previous_entropy_ - entropy) / previous_entropy_
                : 0.0f;
        stop = reduction < s_.threshold;
      }
      break;
    case ExitPolicyKind::kPatience:
      if (block > 0) streak_ = argmax == previous_argmax_ ? streak_ + 1 : 0;
      stop = streak_ >= s_.patience;
      break;
  }
  previous_entropy_ = entropy;
  previous_argmax_ = argmax;
  return stop;
}

}  // namespace beex
