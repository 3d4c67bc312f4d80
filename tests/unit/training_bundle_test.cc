// Bundles written by train/train.py against what PyTorch computed at export:
// every exit's logits, every learning-to-exit head's score, and the exit
// layer that each calibrated policy setting gives (the same decision in
// training-time evaluation and in the engine). Runs on the bundled models and
// on a tiny model that the tiny_bundle fixture trains afresh
// (tests/python/tiny_fixture.py, directory in $BEEX_TINY_DIR).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "engine/bundle.h"
#include "engine/encoder.h"
#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/golden_cases.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using Case = testing::GoldenCase;

struct PolicyCheck {
  ExitSettings settings;
  std::vector<int> exit_layers;
};

struct Golden {
  std::vector<Case> cases;
  std::vector<PolicyCheck> checks;
};

Golden ReadGolden(const std::string& path) {
  const auto doc = testing::ReadJson(path);
  Golden g;
  g.cases = testing::GoldenCases(doc);
  for (const auto& c : doc.fields().at("policy_checks").list_value().values()) {
    const auto& f = c.struct_value().fields();
    PolicyCheck p;
    auto kind = ParseExitPolicy(f.at("policy").string_value());
    EXPECT_TRUE(kind.ok()) << kind.status();
    p.settings.policy = kind.value_or(ExitPolicyKind::kNone);
    p.settings.threshold = f.at("threshold").number_value();
    p.settings.patience = f.at("patience").number_value();
    for (const auto& v : f.at("exit_layers").list_value().values())
      p.exit_layers.push_back(v.number_value());
    g.checks.push_back(std::move(p));
  }
  return g;
}

// (bundle, golden) paths of one model, or empty when it is not available.
std::pair<std::string, std::string> Paths(const std::string& name) {
  if (name == "tiny_classify" || name == "tiny_regress") {
    const char* dir = std::getenv("BEEX_TINY_DIR");
    if (dir == nullptr) return {};
    const std::string sub = std::string(dir) + "/" + name.substr(5);
    return {sub + "/tiny.beex", sub + "/tiny.golden.json"};
  }
  return {testing::SourcePath("models/" + name + ".beex"),
          testing::SourcePath("tests/data/" + name + ".golden.json")};
}

class TrainingBundleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::tie(bundle_path_, golden_path_) = Paths(GetParam());
    if (bundle_path_.empty()) GTEST_SKIP() << "BEEX_TINY_DIR not set";
    ASSERT_TRUE(std::filesystem::exists(bundle_path_)) << bundle_path_;
    golden_ = ReadGolden(golden_path_);
    ASSERT_FALSE(golden_.cases.empty());
    auto bundle = Bundle::Read(bundle_path_);
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    auto encoder = Encoder::Create(*bundle);
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    encoder_ = *std::move(encoder);
  }

  std::vector<EncoderResult> Run(const ExitSettings& s, bool trace) const {
    std::vector<EncoderSample> samples;
    for (const auto& c : golden_.cases) {
      samples.push_back({c.ids, c.type_ids, s});
    }
    return encoder_->Run(samples, trace);
  }

  std::string bundle_path_, golden_path_;
  Golden golden_;
  std::unique_ptr<Encoder> encoder_;
};

TEST_P(TrainingBundleTest, LoadsAndTokenizesLikePython) {
  auto model = Model::Load(bundle_path_);
  ASSERT_TRUE(model.ok()) << model.status();
  for (const auto& c : golden_.cases) {
    auto t = (*model)->Tokenize(
        {c.text_a,
         c.text_b ? std::optional<std::string_view>(*c.text_b) : std::nullopt});
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->ids, c.ids) << c.text_a;
  }
}

TEST_P(TrainingBundleTest, LogitsAndLearnedExitScoresMatchPyTorch) {
  const auto results = Run({}, /*trace=*/true);
  double worst = 0;
  for (size_t i = 0; i < golden_.cases.size(); ++i) {
    const Case& c = golden_.cases[i];
    ASSERT_EQ(results[i].trace.size(), c.outputs.size());
    ASSERT_EQ(results[i].lte_trace.size(), c.lte.size()) << "LTE heads missing";
    for (size_t layer = 0; layer < c.outputs.size(); ++layer) {
      for (size_t o = 0; o < c.outputs[layer].size(); ++o) {
        const double want = c.outputs[layer][o];
        const double got = results[i].trace[layer][o];
        worst = std::max(worst, std::fabs(got - want));
        EXPECT_NEAR(got, want, 2e-3 + 2e-3 * std::fabs(want))
            << "case " << i << " exit " << layer + 1;
      }
      EXPECT_NEAR(results[i].lte_trace[layer], c.lte[layer], 2e-3)
          << "case " << i << " LTE " << layer + 1;
    }
  }
  std::printf("%s: largest |engine - pytorch| logit: %.2e\n",
              GetParam().c_str(), worst);
}

TEST_P(TrainingBundleTest, EveryCalibratedPolicyExitsWherePythonDoes) {
  ASSERT_FALSE(golden_.checks.empty());
  for (const auto& check : golden_.checks) {
    const auto results = Run(check.settings, /*trace=*/false);
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_EQ(results[i].exit_layer, check.exit_layers[i])
          << ExitPolicyName(check.settings.policy) << " threshold "
          << check.settings.threshold << " patience " << check.settings.patience
          << ", case " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, TrainingBundleTest,
                         ::testing::Values("tiny_classify", "tiny_regress",
                                           "sst2", "stsb", "mrpc", "sst2-xnor"),
                         [](const auto& info) {
                           // Test names allow only [A-Za-z0-9_].
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace beex
