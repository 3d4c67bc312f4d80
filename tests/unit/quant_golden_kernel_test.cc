// Models with int8 and 1-bit (XNOR) activations, end to end: the engine's
// every-exit outputs against PyTorch's (tests/python/quant_golden.py writes
// the bundles and goldens into BEEX_QUANT_GOLDEN_DIR, a ctest fixture).
//
// Tolerance against PyTorch: 2e-3 absolute + 2e-3 relative, as for the
// float bundles (CONTRACT.md). Within the engine the quantized paths are
// integer arithmetic followed by a fixed float epilogue, so every bgemm ISA
// path and every batch composition must give bit-identical outputs.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine/kernels/bgemm.h"
#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/golden_cases.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using testing::GoldenCase;

std::string Dir() {
  const char* d = std::getenv("BEEX_QUANT_GOLDEN_DIR");
  return d ? d : "";
}

std::vector<GoldenCase> ReadGolden(const std::string& path) {
  return testing::GoldenCases(testing::ReadJson(path));
}

using Traces = std::vector<std::vector<std::vector<float>>>;

bool BitEqual(const Traces& a, const Traces& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    for (size_t l = 0; l < a[i].size(); ++l) {
      if (a[i][l].size() != b[i][l].size() ||
          std::memcmp(a[i][l].data(), b[i][l].data(),
                      a[i][l].size() * sizeof(float)) != 0) {
        return false;
      }
    }
  }
  return true;
}

class QuantGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (Dir().empty()) GTEST_SKIP() << "BEEX_QUANT_GOLDEN_DIR is not set";
  }
  void TearDown() override {
    ASSERT_TRUE(bgemm::ForceIsa(bgemm::Isa::kScalar).ok());
  }
};

TEST_P(QuantGoldenTest, EveryExitMatchesPyTorchOnEveryIsa) {
  auto model = Model::Load(Dir() + "/" + GetParam() + ".beex");
  ASSERT_TRUE(model.ok()) << model.status();
  const auto cases = ReadGolden(Dir() + "/" + GetParam() + ".golden.json");
  ASSERT_FALSE(cases.empty());
  std::vector<Tokens> inputs;
  for (const auto& g : cases) inputs.push_back({g.ids, g.type_ids});

  Traces first;
  for (auto isa :
       {bgemm::Isa::kScalar, bgemm::Isa::kAvx2, bgemm::Isa::kAvx512}) {
    if (!bgemm::IsaSupported(isa)) continue;
    ASSERT_TRUE(bgemm::ForceIsa(isa).ok());
    const Traces traces = (*model)->TraceAllExits(inputs);
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
              << GetParam() << " case " << i << " exit " << layer + 1
              << " output " << o << " isa " << bgemm::IsaName(isa);
        }
      }
    }
    std::printf("%s (%s): largest |engine - pytorch| over all exits: %.2e\n",
                GetParam().c_str(), std::string(bgemm::IsaName(isa)).c_str(),
                worst);
    if (first.empty()) {
      first = traces;
    } else {
      EXPECT_TRUE(BitEqual(traces, first))
          << bgemm::IsaName(isa) << " differs from the scalar path";
    }
  }
}

TEST_P(QuantGoldenTest, BatchCompositionDoesNotChangeAnyBit) {
  auto model = Model::Load(Dir() + "/" + GetParam() + ".beex");
  ASSERT_TRUE(model.ok()) << model.status();
  const auto cases = ReadGolden(Dir() + "/" + GetParam() + ".golden.json");
  std::vector<Tokens> inputs;
  for (const auto& g : cases) inputs.push_back({g.ids, g.type_ids});
  const Traces together = (*model)->TraceAllExits(inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Traces alone = (*model)->TraceAllExits({&inputs[i], 1});
    EXPECT_TRUE(BitEqual(alone, Traces{together[i]})) << "case " << i;
  }
  // Reversed order: every sample sits at other row offsets.
  std::vector<Tokens> reversed(inputs.rbegin(), inputs.rend());
  const Traces back = (*model)->TraceAllExits(reversed);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(
        BitEqual(Traces{back[inputs.size() - 1 - i]}, Traces{together[i]}))
        << "case " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(ActivationBits, QuantGoldenTest,
                         ::testing::Values("act8", "act1"));

}  // namespace
}  // namespace beex
