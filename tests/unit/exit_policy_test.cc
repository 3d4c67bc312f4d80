#include "engine/exit_policy.h"

#include <cmath>
#include <vector>

#include "engine/model.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

// Feeds per-block outputs; returns the 1-based block the tracker stops at,
// or 0 if it never does.
int StopBlock(const ExitSettings& s, bool regression,
              const std::vector<std::vector<float>>& outputs) {
  ExitTracker t(s, regression);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (t.Observe(outputs[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

TEST(SoftmaxEntropyTest, UniformIsOneAndCertainIsZero) {
  std::vector<float> p(2);
  EXPECT_NEAR(SoftmaxEntropy(std::vector<float>{0.0f, 0.0f}, p), 1.0f, 1e-6);
  EXPECT_NEAR(p[0], 0.5f, 1e-6);
  EXPECT_NEAR(SoftmaxEntropy(std::vector<float>{40.0f, 0.0f}, p), 0.0f, 1e-6);
  std::vector<float> q(4);
  EXPECT_NEAR(SoftmaxEntropy(std::vector<float>{1, 1, 1, 1}, q), 1.0f, 1e-6);
}

TEST(ExitTrackerTest, EntropyStopsAtFirstConfidentBlock) {
  ExitSettings s{ExitPolicyKind::kEntropy, 0.55f, 1, 0};
  // Normalised entropies: 1.0, 0.84, 0.53, 0.13.
  EXPECT_EQ(StopBlock(s, false, {{0, 0}, {1, 0}, {2, 0}, {4, 0}}), 3);
  s.threshold = 0.01f;
  EXPECT_EQ(StopBlock(s, false, {{0, 0}, {1, 0}, {2, 0}}), 0);
}

TEST(ExitTrackerTest, ConfidenceUsesMaxProbability) {
  ExitSettings s{ExitPolicyKind::kConfidence, 0.9f, 1, 0};
  // p(max) = sigmoid(diff): 0.5, 0.73, 0.88, 0.95.
  EXPECT_EQ(StopBlock(s, false, {{0, 0}, {0, 1}, {0, 2}, {0, 3}}), 4);
}

TEST(ExitTrackerTest, PatienceCountsAgreeingArgmaxInARow) {
  ExitSettings s{ExitPolicyKind::kPatience, 0, 2, 0};
  // argmax: 0, 1, 1, 0, 0, 0 -> streak 0,0,1,0,1,2 -> stops at block 6.
  EXPECT_EQ(
      StopBlock(s, false, {{1, 0}, {0, 1}, {0, 1}, {1, 0}, {1, 0}, {1, 0}}), 6);
}

TEST(ExitTrackerTest, RegressionPatienceUsesValueChange) {
  ExitSettings s{ExitPolicyKind::kPatience, 0.1f, 1, 0};
  EXPECT_EQ(StopBlock(s, true, {{1.0f}, {2.0f}, {2.05f}, {2.06f}}), 3);
  s.patience = 2;
  EXPECT_EQ(
      StopBlock(s, true, {{1.0f}, {2.0f}, {2.05f}, {2.5f}, {2.55f}, {2.56f}}),
      6);
}

TEST(ExitTrackerTest, EntropyReductionStopsWhenGainsFade) {
  ExitSettings s{ExitPolicyKind::kEntropyReduction, 0.1f, 1, 0};
  // Entropy falls sharply from block 1 to 2, then barely: stop at block 3.
  EXPECT_EQ(StopBlock(s, false, {{0, 0}, {2, 0}, {2.1f, 0}, {5, 0}}), 3);
  // Block 1 never stops: there is no previous block to compare with.
  s.threshold = 1.0f;
  EXPECT_EQ(StopBlock(s, false, {{0, 0}, {0, 0}}), 2);
}

TEST(ExitTrackerTest, LearnedExitsWhenTheHeadPredictsRight) {
  ExitSettings s{ExitPolicyKind::kLearned, 0.8f, 1, 0};
  // The logits say nothing; only the LTE score decides.
  ExitTracker t(s, false);
  EXPECT_FALSE(t.Observe(std::vector<float>{9, 0}, 0.3f));
  EXPECT_FALSE(t.Observe(std::vector<float>{0, 0}, 0.79f));
  EXPECT_TRUE(t.Observe(std::vector<float>{0, 0}, 0.8f));
  // Regression: same rule on the value's head.
  ExitTracker r(s, true);
  EXPECT_FALSE(r.Observe(std::vector<float>{2.5f}, 0.5f));
  EXPECT_TRUE(r.Observe(std::vector<float>{2.5f}, 0.95f));
}

TEST(ValidateExitSettingsTest, LearnedTakesThresholdInUnitRangeForBothTasks) {
  EXPECT_TRUE(
      ValidateExitSettings({ExitPolicyKind::kLearned, 0.9f, 1, 0}, 6, true)
          .ok());
  EXPECT_TRUE(
      ValidateExitSettings({ExitPolicyKind::kLearned, 0.9f, 1, 0}, 6, false)
          .ok());
  auto s =
      ValidateExitSettings({ExitPolicyKind::kLearned, 1.2f, 1, 0}, 6, true);
  EXPECT_NE(s.message().find("0..1"), std::string::npos) << s;
  EXPECT_EQ(*ParseExitPolicy("learned"), ExitPolicyKind::kLearned);
}

TEST(ExitTrackerTest, NoneNeverStops) {
  EXPECT_EQ(StopBlock({}, false, {{9, 0}, {9, 0}, {9, 0}}), 0);
}

TEST(ValidateExitSettingsTest, NamesFieldAndRange) {
  auto s =
      ValidateExitSettings({ExitPolicyKind::kEntropy, 1.5f, 1, 0}, 6, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("exit.threshold"), std::string::npos);
  EXPECT_NE(s.message().find("0..1"), std::string::npos);
  s = ValidateExitSettings({ExitPolicyKind::kPatience, 0, 6, 0}, 6, false);
  EXPECT_NE(s.message().find("exit.patience"), std::string::npos);
  s = ValidateExitSettings({ExitPolicyKind::kNone, 0, 1, 7}, 6, false);
  EXPECT_NE(s.message().find("exit.max_layers"), std::string::npos);
  s = ValidateExitSettings({ExitPolicyKind::kEntropy, 0.2f, 1, 0}, 6, true);
  EXPECT_NE(s.message().find("regression"), std::string::npos);
  s = ValidateExitSettings({ExitPolicyKind::kPatience, 0, 1, 0}, 6, true);
  EXPECT_NE(s.message().find("threshold above 0"), std::string::npos);
  s = ValidateExitSettings({ExitPolicyKind::kEntropy, NAN, 1, 0}, 6, false);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(
      ValidateExitSettings({ExitPolicyKind::kPatience, 0.1f, 2, 3}, 6, true)
          .ok());
}

TEST(ParseExitPolicyTest, RoundTripsEveryName) {
  for (auto k : {ExitPolicyKind::kNone, ExitPolicyKind::kEntropy,
                 ExitPolicyKind::kConfidence, ExitPolicyKind::kPatience,
                 ExitPolicyKind::kEntropyReduction, ExitPolicyKind::kLearned}) {
    auto parsed = ParseExitPolicy(ExitPolicyName(k));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_FALSE(ParseExitPolicy("sometimes").ok());
}

TEST(WithPolicyTest, SamePolicyKeepsTheDefaultsAnotherBringsItsOwn) {
  const ExitSettings defaults{ExitPolicyKind::kLearned, 0.3f, 2, 4};
  const ExitSettings same = WithPolicy(defaults, ExitPolicyKind::kLearned);
  EXPECT_EQ(same.threshold, 0.3f);
  EXPECT_EQ(same.patience, 2);
  EXPECT_EQ(same.max_layers, 4);
  const ExitSettings other = WithPolicy(defaults, ExitPolicyKind::kNone);
  EXPECT_EQ(other.policy, ExitPolicyKind::kNone);
  EXPECT_EQ(other.threshold, 0.0f);
  EXPECT_EQ(other.patience, 1);
  EXPECT_EQ(other.max_layers, 0);
}

TEST(ValidateExitForModelTest, LearnedNeedsLearningToExitHeads) {
  ModelSpec spec;
  spec.name = "plain";
  spec.num_layers = 6;
  const ExitSettings learned{ExitPolicyKind::kLearned, 0.5f, 1, 0};
  const absl::Status s = ValidateExitForModel(learned, spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "exit.policy learned needs learning-to-exit heads; model plain "
            "has none");
  spec.learned_exits = true;
  EXPECT_TRUE(ValidateExitForModel(learned, spec).ok());
  // Range checks still apply.
  EXPECT_FALSE(
      ValidateExitForModel({ExitPolicyKind::kLearned, 1.5f, 1, 0}, spec).ok());
  spec.learned_exits = false;
  EXPECT_TRUE(
      ValidateExitForModel({ExitPolicyKind::kEntropy, 0.5f, 1, 0}, spec).ok());
}

}  // namespace
}  // namespace beex
