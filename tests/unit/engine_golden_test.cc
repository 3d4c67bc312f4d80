// The engine against the per-exit outputs that PyTorch computed at export
// (tests/data/*.golden.json, written by train/train.py --golden).
//
// Tolerance: 2e-3 absolute + 2e-3 relative on every exit's logits. The engine
// and PyTorch both compute in float32 with the same weights, but sum in a
// different order (oneDNN's blocked GEMM, our own attention and LayerNorm);
// measured differences are around 1e-5 (printed below). A real defect (one
// flipped weight bit, a wrong scale, a misplaced row) moves logits by far
// more than 1e-2.
#include <cmath>

#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/golden_cases.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using testing::GoldenCase;

std::vector<GoldenCase> ReadGolden(const std::string& path) {
  return testing::GoldenCases(testing::ReadJson(path));
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, TokenizerMatchesPython) {
  auto model =
      Model::Load(testing::SourcePath("models/" + GetParam() + ".beex"));
  ASSERT_TRUE(model.ok()) << model.status();
  for (const auto& g : ReadGolden(
           testing::SourcePath("tests/data/" + GetParam() + ".golden.json"))) {
    auto t = (*model)->Tokenize(
        {g.text_a,
         g.text_b ? std::optional<std::string_view>(*g.text_b) : std::nullopt});
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->ids, g.ids) << g.text_a;
    EXPECT_EQ(t->type_ids, g.type_ids) << g.text_a;
  }
}

TEST_P(GoldenTest, EveryExitMatchesPyTorch) {
  auto model =
      Model::Load(testing::SourcePath("models/" + GetParam() + ".beex"));
  ASSERT_TRUE(model.ok()) << model.status();
  const auto cases = ReadGolden(
      testing::SourcePath("tests/data/" + GetParam() + ".golden.json"));
  ASSERT_FALSE(cases.empty());
  std::vector<Tokens> inputs;
  for (const auto& g : cases) inputs.push_back({g.ids, g.type_ids});
  // All cases in one batch: compaction must not disturb any of them.
  const auto traces = (*model)->TraceAllExits(inputs);
  double worst = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(traces[i].size(), cases[i].outputs.size()) << "case " << i;
    for (size_t layer = 0; layer < traces[i].size(); ++layer) {
      ASSERT_EQ(traces[i][layer].size(), cases[i].outputs[layer].size());
      for (size_t o = 0; o < traces[i][layer].size(); ++o) {
        const double want = cases[i].outputs[layer][o];
        const double got = traces[i][layer][o];
        worst = std::max(worst, std::fabs(got - want));
        EXPECT_NEAR(got, want, 2e-3 + 2e-3 * std::fabs(want))
            << "case " << i << " (" << cases[i].text_a << ") exit " << layer + 1
            << " output " << o;
      }
    }
  }
  std::printf("%s: largest |engine - pytorch| over all exits: %.2e\n",
              GetParam().c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(BundledModels, GoldenTest,
                         ::testing::Values("sst2", "stsb", "sst2-xnor"));

}  // namespace
}  // namespace beex
