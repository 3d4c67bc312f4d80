// Samples that exit are removed from the batch; what remains must compute
// exactly what it would compute alone.
#include <algorithm>
#include <set>
#include <string>

#include "engine/compute_threads.h"
#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace beex {
namespace {

const char* kTexts[] = {
    "a gripping, beautifully acted film",
    "the plot drags on and the jokes never land .",
    "dull",
    "I expected little and was pleasantly surprised by how warm it felt.",
    "an ambitious mess that is gorgeous to look at but impossible to care "
    "about",
    "not bad at all",
    "the worst two hours I have spent in a cinema this year",
    "funny , sharp and over far too soon",
};

TEST(CompactionTest, MixedExitDepthsMatchEachSampleAlone) {
  auto model = Model::Load(testing::SourcePath("models/sst2.beex"));
  ASSERT_TRUE(model.ok()) << model.status();
  const int layers = (*model)->spec().num_layers;
  std::vector<PreparedInput> batch;
  for (size_t i = 0; i < std::size(kTexts); ++i) {
    auto t = (*model)->Tokenize({kTexts[i], std::nullopt});
    ASSERT_TRUE(t.ok());
    ExitSettings exit;
    // Caps 1..layers force one sample to each depth whatever the weights;
    // the rest leave when the entropy rule fires.
    const bool capped = static_cast<int>(i) < layers;
    exit.policy = capped ? ExitPolicyKind::kNone : ExitPolicyKind::kEntropy;
    exit.threshold = 0.3f;
    exit.max_layers = capped ? 1 + static_cast<int>(i) : 0;
    batch.push_back({*std::move(t), exit});
  }
  const auto together = (*model)->Predict(batch);
  std::set<int> depths;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto alone = (*model)->Predict(std::span(&batch[i], 1));
    depths.insert(together[i].exit_layer);
    EXPECT_EQ(together[i].exit_layer, alone[0].exit_layer) << kTexts[i];
    if (batch[i].exit.max_layers > 0) {
      EXPECT_EQ(together[i].exit_layer, batch[i].exit.max_layers);
    }
    EXPECT_EQ(together[i].label_index, alone[0].label_index) << kTexts[i];
    ASSERT_EQ(together[i].scores.size(), alone[0].scores.size());
    for (size_t c = 0; c < alone[0].scores.size(); ++c) {
      // Different row counts may take different oneDNN kernel blockings.
      EXPECT_NEAR(together[i].scores[c], alone[0].scores[c], 1e-5) << kTexts[i];
    }
  }
  EXPECT_EQ(static_cast<int>(depths.size()), layers)
      << "the batch should reach every exit depth";
}

TEST(CompactionTest, OrderOfSamplesDoesNotMatter) {
  auto model = Model::Load(testing::SourcePath("models/sst2.beex"));
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<PreparedInput> forward, backward;
  for (const char* text : kTexts) {
    auto t = (*model)->Tokenize({text, std::nullopt});
    ASSERT_TRUE(t.ok());
    forward.push_back({*t, (*model)->spec().default_exit});
  }
  backward.assign(forward.rbegin(), forward.rend());
  const auto a = (*model)->Predict(forward);
  const auto b = (*model)->Predict(backward);
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& r = b[a.size() - 1 - i];
    EXPECT_EQ(a[i].exit_layer, r.exit_layer);
    EXPECT_EQ(a[i].label_index, r.label_index);
    EXPECT_NEAR(a[i].scores[0], r.scores[0], 1e-5);
  }
}

// A large batch runs as groups of samples, each taken through a whole block
// by one thread (Encoder::ForwardBlock); a batch of a few long samples runs
// stage by stage instead. Neither may change a sample's result: the int8 and
// 1-bit paths are integer arithmetic and a fixed epilogue (bit for bit), the
// float path's oneDNN kernels may block other row counts differently.
TEST(CompactionTest, LargeAndLongBatchesMatchEachSampleAlone) {
  SetIntraOpThreads(2);  // parallel paths even on a one-core machine
  for (const char* bundle :
       {"models/sst2.beex", "models/sst2-xnor.beex", "models/stsb.beex"}) {
    auto model = Model::Load(testing::SourcePath(bundle));
    ASSERT_TRUE(model.ok()) << model.status();
    const bool exact = std::string(bundle) != "models/stsb.beex";
    const bool pair = (*model)->spec().pair_input;
    ExitSettings full_depth;
    full_depth.policy = ExitPolicyKind::kNone;
    std::vector<PreparedInput> large;
    for (const char* a : kTexts) {
      for (const char* b : kTexts) {
        const std::string joined = std::string(a) + " , " + b;
        auto t = (*model)->Tokenize(
            {pair ? std::string_view(a) : std::string_view(joined),
             pair ? std::optional<std::string_view>(b) : std::nullopt});
        ASSERT_TRUE(t.ok());
        large.push_back({*std::move(t), full_depth});
      }
    }
    std::vector<PreparedInput> longest = large;
    std::sort(longest.begin(), longest.end(), [](const auto& a, const auto& b) {
      return a.tokens.ids.size() > b.tokens.ids.size();
    });
    longest.resize(2);
    for (const auto* batch : {&large, &longest}) {
      const auto together = (*model)->Predict(*batch);
      for (size_t i = 0; i < batch->size(); ++i) {
        const auto alone = (*model)->Predict(std::span(&(*batch)[i], 1));
        // Classification: the probabilities; regression: the value.
        std::vector<float> got = together[i].scores, want = alone[0].scores;
        got.push_back(together[i].value);
        want.push_back(alone[0].value);
        for (size_t c = 0; c < want.size(); ++c) {
          if (exact) {
            ASSERT_EQ(got[c], want[c])
                << bundle << " sample " << i << " of " << batch->size();
          } else {
            ASSERT_NEAR(got[c], want[c], 1e-5)
                << bundle << " sample " << i << " of " << batch->size();
          }
        }
      }
    }
  }
  SetIntraOpThreads(0);
}

}  // namespace
}  // namespace beex
