// The server's batch workers (--batch_threads, default one per core) run the
// same model at once. A batch must compute the same whatever else runs
// beside it: before each thread had its own oneDNN scratchpad, concurrent
// batches mixed each other's intermediate sums.
#include <atomic>
#include <thread>
#include <vector>

#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace beex {
namespace {

const char* kTexts[] = {
    "a gripping, beautifully acted film",
    "the plot drags on and the jokes never land .",
    "I expected little and was pleasantly surprised by how warm it felt.",
    "an ambitious mess that is gorgeous to look at but impossible to care "
    "about",
    "funny , sharp and over far too soon",
    "the worst two hours I have spent in a cinema this year",
};

TEST(ConcurrencyTest, ConcurrentBatchesComputeWhatEachComputesAlone) {
  // One bundle per activation path: float (stsb), int8 (sst2), 1-bit.
  for (const char* bundle :
       {"models/stsb.beex", "models/sst2.beex", "models/sst2-xnor.beex"}) {
    auto model = Model::Load(testing::SourcePath(bundle));
    ASSERT_TRUE(model.ok()) << model.status();
    std::vector<PreparedInput> batch;
    ExitSettings full_depth;
    full_depth.policy = ExitPolicyKind::kNone;
    const bool pair = (*model)->spec().pair_input;
    for (const char* text : kTexts) {
      auto t = (*model)->Tokenize(
          {text,
           pair ? std::optional<std::string_view>(kTexts[0]) : std::nullopt});
      ASSERT_TRUE(t.ok());
      batch.push_back({*std::move(t), full_depth});
    }
    const auto alone = (*model)->Predict(batch);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 3; ++w) {
      workers.emplace_back([&] {
        for (int i = 0; i < 40; ++i) {
          const auto got = (*model)->Predict(batch);
          for (size_t s = 0; s < got.size(); ++s) {
            if (got[s].scores != alone[s].scores) ++mismatches;
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(mismatches.load(), 0) << bundle;
  }
}

}  // namespace
}  // namespace beex
