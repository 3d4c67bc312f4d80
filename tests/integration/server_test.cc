// The server over a real gRPC channel on loopback: results, ordering,
// concurrency, and every kind of bad input with its status and message.
#include "server/server.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "beex/v1/inference.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.models = {{"sst2", testing::SourcePath("models/sst2.beex")},
                {"stsb", testing::SourcePath("models/stsb.beex")}};
    o.limits.max_inputs = 16;
    o.limits.max_text_bytes = 1000;
    o.batching.max_batch_size = 8;
    o.batching.max_delay = absl::Microseconds(500);
    auto s = BeexServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Inference::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  grpc::Status Classify(const v1::ClassifyRequest& req,
                        v1::ClassifyResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    return stub_->Classify(&ctx, req, resp);
  }
  grpc::Status Regress(const v1::RegressRequest& req,
                       v1::RegressResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    return stub_->Regress(&ctx, req, resp);
  }
  static v1::ClassifyRequest Sst2(std::initializer_list<std::string> texts) {
    v1::ClassifyRequest r;
    r.set_model("sst2");
    for (const auto& t : texts) r.add_inputs()->set_text(t);
    return r;
  }
  // Expects INVALID_ARGUMENT whose message contains `needle`.
  void ExpectInvalid(const v1::ClassifyRequest& req,
                     const std::string& needle) {
    v1::ClassifyResponse resp;
    const auto s = Classify(req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(needle));
  }

  static std::unique_ptr<BeexServer> server_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

std::unique_ptr<BeexServer> ServerTest::server_;

TEST_F(ServerTest, ClassifyMatchesTheEngineInProcess) {
  const std::vector<std::string> texts = {"a gripping, beautifully acted film",
                                          "dull and lifeless",
                                          "not bad at all"};
  v1::ClassifyRequest req = Sst2({});
  for (const auto& t : texts) req.add_inputs()->set_text(t);
  v1::ClassifyResponse resp;
  ASSERT_TRUE(Classify(req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.model(), "sst2");
  const Model& model = server_->runner("sst2")->model();
  for (int i = 0; i < 3; ++i) {
    const auto& r = resp.results(i);
    auto tokens = model.Tokenize({texts[i], std::nullopt});
    PreparedInput in{*tokens, model.spec().default_exit};
    const Prediction p = model.Predict(std::span(&in, 1))[0];
    EXPECT_EQ(r.label_index(), static_cast<uint32_t>(p.label_index));
    EXPECT_EQ(r.label(), model.spec().labels[p.label_index]);
    EXPECT_EQ(r.exit_layer(), static_cast<uint32_t>(p.exit_layer));
    EXPECT_EQ(r.num_layers(), 6u);
    EXPECT_EQ(r.num_tokens(), tokens->ids.size());
    ASSERT_EQ(r.scores_size(), 2);
    EXPECT_NEAR(r.scores(0) + r.scores(1), 1.0f, 1e-5);
    EXPECT_NEAR(r.scores(0), p.scores[0], 1e-5);
    EXPECT_GE(r.exit_layer(), 1u);
    EXPECT_LE(r.exit_layer(), 6u);
    EXPECT_GE(r.timing().total_us(), r.timing().queue_us());
    EXPECT_GT(r.timing().total_us(), 0u);
  }
}

TEST_F(ServerTest, SentimentIsRight) {
  v1::ClassifyResponse resp;
  ASSERT_TRUE(Classify(Sst2({"a gripping, beautifully acted film",
                             "the worst film of the year , a tedious bore"}),
                       &resp)
                  .ok());
  EXPECT_EQ(resp.results(0).label(), "positive");
  EXPECT_EQ(resp.results(1).label(), "negative");
}

TEST_F(ServerTest, RegressGivesValuesInRange) {
  v1::RegressRequest req;
  req.set_model("stsb");
  auto* same = req.add_inputs();
  same->set_text("A man is playing a guitar.");
  same->set_text_pair("A person plays the guitar.");
  auto* different = req.add_inputs();
  different->set_text("A woman is slicing an onion.");
  different->set_text_pair("The stock market fell sharply today.");
  v1::RegressResponse resp;
  ASSERT_TRUE(Regress(req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 2);
  for (const auto& r : resp.results()) {
    EXPECT_GE(r.value(), 0.0f);
    EXPECT_LE(r.value(), 5.0f);
    EXPECT_GE(r.exit_layer(), 1u);
  }
  EXPECT_GT(resp.results(0).value(), resp.results(1).value());
}

TEST_F(ServerTest, PerRequestExitSettingsApply) {
  v1::ClassifyRequest req =
      Sst2({"a gripping, beautifully acted film", "dull"});
  req.mutable_exit()->set_policy(v1::EXIT_POLICY_NONE);
  v1::ClassifyResponse resp;
  ASSERT_TRUE(Classify(req, &resp).ok());
  for (const auto& r : resp.results()) EXPECT_EQ(r.exit_layer(), 6u);
  req.mutable_exit()->set_max_layers(2);
  ASSERT_TRUE(Classify(req, &resp).ok());
  for (const auto& r : resp.results()) EXPECT_EQ(r.exit_layer(), 2u);
  req.mutable_exit()->set_max_layers(0);
  req.mutable_exit()->set_policy(v1::EXIT_POLICY_CONFIDENCE);
  req.mutable_exit()->set_threshold(0.0f);  // any block is confident enough
  ASSERT_TRUE(Classify(req, &resp).ok());
  for (const auto& r : resp.results()) EXPECT_EQ(r.exit_layer(), 1u);
}

TEST_F(ServerTest, ConcurrentClientsEachGetTheirOwnAnswers) {
  const std::vector<std::string> texts = {"superb", "awful", "a quiet triumph",
                                          "an utter waste of time"};
  std::vector<std::string> expected;
  for (const auto& t : texts) {
    v1::ClassifyResponse r;
    ASSERT_TRUE(Classify(Sst2({t}), &r).ok());
    expected.push_back(r.results(0).label());
  }
  std::atomic<int> failures = 0;
  std::vector<std::thread> threads;
  for (int c = 0; c < 8; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < 20; ++i) {
        const int first = (c + i) % 4;
        v1::ClassifyRequest req = Sst2({texts[first], texts[(first + 1) % 4]});
        v1::ClassifyResponse resp;
        if (!Classify(req, &resp).ok() || resp.results_size() != 2 ||
            resp.results(0).label() != expected[first] ||
            resp.results(1).label() != expected[(first + 1) % 4]) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

TEST_F(ServerTest, UnknownModelIsNotFound) {
  v1::ClassifyRequest req = Sst2({"hello"});
  req.set_model("nope");
  v1::ClassifyResponse resp;
  const auto s = Classify(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'nope'"));
  grpc::ClientContext ctx;
  v1::GetModelInfoRequest info_req;
  info_req.set_model("nope");
  v1::ModelInfo info;
  EXPECT_EQ(stub_->GetModelInfo(&ctx, info_req, &info).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, BadInputsAreInvalidArgumentNamingFieldAndLimit) {
  ExpectInvalid(Sst2({}), "inputs has 0 items; allowed 1..16");
  ExpectInvalid(Sst2({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k",
                      "l", "m", "n", "o", "p", "q"}),
                "inputs has 17 items; allowed 1..16");
  ExpectInvalid(Sst2({"fine", ""}), "inputs[1].text is empty");
  ExpectInvalid(Sst2({"   \t "}), "inputs[0].text is empty or only whitespace");
  ExpectInvalid(Sst2({std::string(1001, 'a')}),
                "inputs[0].text has 1001 bytes; the limit is 1000");
  // C++ protobuf serializes invalid UTF-8 in a string field (with a logged
  // error); the server must name the field and the byte, not fail in parsing.
  ExpectInvalid(Sst2({"fine", "bad \xc3\x28 bytes"}),
                "inputs[1].text is not valid UTF-8 (at byte 4)");
  {
    v1::RegressRequest req;
    req.set_model("stsb");
    auto* in = req.add_inputs();
    in->set_text("fine");
    in->set_text_pair("\xed\xa0\x80 a surrogate");
    v1::RegressResponse resp;
    const auto s = Regress(req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(
        s.error_message(),
        HasSubstr("inputs[0].text_pair is not valid UTF-8 (at byte 0)"));
  }
  {
    v1::ClassifyRequest bad_model = Sst2({"fine"});
    bad_model.set_model("sst\xff");
    ExpectInvalid(bad_model, "model is not valid UTF-8");
  }
  v1::ClassifyRequest pair = Sst2({"one"});
  pair.mutable_inputs(0)->set_text_pair("two");
  ExpectInvalid(pair, "text_pair is not allowed");
  v1::ClassifyRequest exit = Sst2({"one"});
  exit.mutable_exit()->set_policy(v1::EXIT_POLICY_ENTROPY);
  exit.mutable_exit()->set_threshold(2.0f);
  ExpectInvalid(exit, "exit.threshold is 2");
  exit.mutable_exit()->set_threshold(0.1f);
  exit.mutable_exit()->set_max_layers(9);
  ExpectInvalid(exit, "exit.max_layers is 9; allowed 0..6");
  exit.mutable_exit()->set_max_layers(0);
  exit.mutable_exit()->set_policy(static_cast<v1::ExitPolicy>(42));
  ExpectInvalid(exit, "exit.policy 42 is unknown");
}

TEST_F(ServerTest, WrongMethodForTheModelsTask) {
  v1::RegressRequest req;
  req.set_model("sst2");
  req.add_inputs()->set_text("hello");
  v1::RegressResponse resp;
  auto s = Regress(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("classification model; call Classify"));
  v1::ClassifyRequest creq;
  creq.set_model("stsb");
  auto* in = creq.add_inputs();
  in->set_text("a");
  in->set_text_pair("b");
  v1::ClassifyResponse cresp;
  s = Classify(creq, &cresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("regression model; call Regress"));
}

TEST_F(ServerTest, PairModelNeedsPairsAndRegressionPoliciesAreChecked) {
  v1::RegressRequest req;
  req.set_model("stsb");
  req.add_inputs()->set_text("only one");
  v1::RegressResponse resp;
  auto s = Regress(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs[0]: text_pair is required"));
  req.mutable_inputs(0)->set_text_pair("and two");
  req.mutable_exit()->set_policy(v1::EXIT_POLICY_ENTROPY);
  s = Regress(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("regression models take none, patience or learned"));
}

TEST_F(ServerTest, ModelInfoDescribesTheBundles) {
  grpc::ClientContext ctx;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&ctx, {}, &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  const auto& sst2 =
      list.models(0).name() == "sst2" ? list.models(0) : list.models(1);
  const auto& stsb =
      list.models(0).name() == "stsb" ? list.models(0) : list.models(1);
  EXPECT_EQ(sst2.task(), v1::TASK_CLASSIFICATION);
  EXPECT_THAT(sst2.labels(), ::testing::ElementsAre("negative", "positive"));
  EXPECT_FALSE(sst2.pair_input());
  EXPECT_EQ(sst2.num_layers(), 6u);
  EXPECT_TRUE(sst2.binarized());
  EXPECT_NE(sst2.default_exit().policy(), v1::EXIT_POLICY_UNSPECIFIED);
  EXPECT_GT(sst2.bundle_bytes(), 100000u);
  EXPECT_EQ(sst2.format_version(), 1u);
  EXPECT_EQ(stsb.task(), v1::TASK_REGRESSION);
  EXPECT_TRUE(stsb.pair_input());
  EXPECT_EQ(stsb.value_min(), 0.0f);
  EXPECT_EQ(stsb.value_max(), 5.0f);
}

}  // namespace
}  // namespace beex
