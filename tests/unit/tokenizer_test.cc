#include "engine/tokenizer.h"

#include "engine/model.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace beex {
namespace {

TEST(TruncatePairTest, SingleTextKeepsItsHead) {
  std::vector<int> a = {1, 2, 3, 4, 5};
  TruncatePair(a, nullptr, 3);
  EXPECT_EQ(a, (std::vector<int>{1, 2, 3}));
}

TEST(TruncatePairTest, TakesFromTheLongerTextFirst) {
  std::vector<int> a = {1, 2, 3, 4, 5, 6}, b = {7, 8};
  TruncatePair(a, &b, 5);
  EXPECT_EQ(a, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(b, (std::vector<int>{7, 8}));
  // Equal lengths: the second text gives first, as in BERT.
  std::vector<int> c = {1, 2, 3}, d = {4, 5, 6};
  TruncatePair(c, &d, 5);
  EXPECT_EQ(c, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(d, (std::vector<int>{4, 5}));
}

class TokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = Model::Load(testing::SourcePath("models/stsb.beex"));
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = *std::move(m);
  }
  std::unique_ptr<Model> model_;
};

TEST_F(TokenizerTest, FramesPairsWithSpecialTokensAndTypes) {
  auto t = model_->Tokenize({"A cat sleeps.", "A dog runs."});
  ASSERT_TRUE(t.ok());
  ASSERT_GE(t->ids.size(), 5u);
  EXPECT_EQ(t->ids.front(), 2);  // [CLS]
  EXPECT_EQ(t->ids.back(), 3);   // [SEP]
  const auto first_sep = std::find(t->ids.begin(), t->ids.end(), 3);
  const size_t split = first_sep - t->ids.begin() + 1;
  for (size_t i = 0; i < t->ids.size(); ++i) {
    EXPECT_EQ(t->type_ids[i], i < split ? 0 : 1) << i;
  }
}

TEST_F(TokenizerTest, LongInputsAreCutToMaxTokens) {
  std::string long_text;
  for (int i = 0; i < 500; ++i) long_text += "word" + std::to_string(i) + " ";
  auto t = model_->Tokenize({long_text, "short"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(static_cast<int>(t->ids.size()), model_->spec().max_tokens);
  EXPECT_EQ(t->ids.back(), 3);
}

TEST_F(TokenizerTest, CaseIsFolded) {
  auto lower = model_->Tokenize({"a man is playing a guitar", "x"});
  auto upper = model_->Tokenize({"A MAN IS PLAYING A GUITAR", "x"});
  ASSERT_TRUE(lower.ok() && upper.ok());
  EXPECT_EQ(lower->ids, upper->ids);
}

TEST_F(TokenizerTest, PairPresenceMustMatchTheModel) {
  EXPECT_EQ(model_->Tokenize({"only one", std::nullopt}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace beex
