// --model's value: NAME=PATH and a model's own batching settings.
#include "server/model_config.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

using ::testing::HasSubstr;

TEST(ParseModelFlagTest, NameAndPathAlone) {
  auto c = ParseModelFlag("sst2=models/sst2.beex");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "sst2");
  EXPECT_EQ(c->path, "models/sst2.beex");
  BatcherOptions base;
  base.max_batch_size = 7;
  EXPECT_EQ(c->batching.Over(base).max_batch_size, 7u);
}

TEST(ParseModelFlagTest, BatchingSettingsOverrideTheServersOnlyWhereGiven) {
  auto c = ParseModelFlag(
      "stsb=/m/stsb.beex,max_batch_size=8,max_batch_delay_us=500,"
      "max_batch_tokens=0,max_queue=64,batch_threads=3");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->path, "/m/stsb.beex");
  BatcherOptions base;
  base.max_batch_size = 32;
  base.max_batch_tokens = 4096;
  base.max_delay = absl::Milliseconds(2);
  base.max_queue = 4096;
  base.num_workers = 1;
  const BatcherOptions b = c->batching.Over(base);
  EXPECT_EQ(b.max_batch_size, 8u);
  EXPECT_EQ(b.max_batch_tokens, 0u);
  EXPECT_EQ(b.max_delay, absl::Microseconds(500));
  EXPECT_EQ(b.max_queue, 64u);
  EXPECT_EQ(b.num_workers, 3);

  auto partial = ParseModelFlag("m=p,max_queue=10");
  ASSERT_TRUE(partial.ok()) << partial.status();
  const BatcherOptions p = partial->batching.Over(base);
  EXPECT_EQ(p.max_queue, 10u);
  EXPECT_EQ(p.max_batch_size, 32u);
  EXPECT_EQ(p.max_batch_tokens, 4096u);
  EXPECT_EQ(p.max_delay, absl::Milliseconds(2));
}

TEST(ParseModelFlagTest, RefusesWhatItCannotReadAndSaysWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"sst2", "no NAME=PATH"},
      {"=models/sst2.beex", "no NAME=PATH"},
      {"sst2=", "no NAME=PATH"},
      {"sst2=a,b.beex", "'b.beex' is not KEY=VALUE"},
      {"sst2=p,max_batch=4", "unknown setting 'max_batch'"},
      {"sst2=p,max_batch_size=0", "max_batch_size=0 is not a whole number"},
      {"sst2=p,max_batch_size=-3", "is not a whole number from 1"},
      {"sst2=p,max_batch_delay_us=1.5", "is not a whole number from 0"},
      {"sst2=p,max_queue=99999999999", "max_queue=99999999999"},
      {"sst2=p,batch_threads=", "batch_threads= is not"},
      {"sst2=p,max_queue=8,max_queue=9", "max_queue is given twice"},
  };
  for (const auto& [flag, why] : cases) {
    auto c = ParseModelFlag(flag);
    ASSERT_FALSE(c.ok()) << flag;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << flag;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(why)) << flag;
    EXPECT_THAT(std::string(c.status().message()),
                HasSubstr("NAME=PATH[,KEY=VALUE...]"))
        << flag;
  }
}

// The engine's compute pool is process-wide: it is sized for the model that
// runs the most batches at once, or that model oversubscribes the cores.
TEST(BusiestModelWorkersTest, CountsEachModelsOwnWorkersOrTheServers) {
  auto one_worker = ParseModelFlag("a=a.beex,batch_threads=1");
  auto four_workers = ParseModelFlag("b=b.beex,batch_threads=4");
  auto server_default = ParseModelFlag("c=c.beex");
  ASSERT_TRUE(one_worker.ok() && four_workers.ok() && server_default.ok());
  const std::vector<ModelConfig> mixed = {*one_worker, *four_workers,
                                          *server_default};
  EXPECT_EQ(BusiestModelWorkers(1, mixed), 4);
  // A model left on the server's workers counts with them.
  const std::vector<ModelConfig> few = {*one_worker, *server_default};
  EXPECT_EQ(BusiestModelWorkers(2, few), 2);
  // Only models' own settings: the server's flag applies to none of them.
  const std::vector<ModelConfig> own = {*one_worker};
  EXPECT_EQ(BusiestModelWorkers(4, own), 1);
  EXPECT_EQ(BusiestModelWorkers(2, {}), 2);
  EXPECT_EQ(BusiestModelWorkers(0, {}), 1);  // never below one
}

}  // namespace
}  // namespace beex
