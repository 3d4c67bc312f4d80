// The bad-input catalogue (docs/RELIABILITY.md): each kind of bad request
// against a server with beex-server's default limits, over a real channel.
// Each gets its own status and a message that names the field and the limit,
// nothing is computed for it, and the server goes on answering good calls.
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <limits>
#include <string>

#include "beex/v1/inference.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/test_util.h"

namespace beex {
namespace {

using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ServerOptions o;  // the defaults of beex-server's flags
    o.host = "127.0.0.1";
    o.port = 0;
    o.models = {{"sst2", testing::SourcePath("models/sst2.beex")},
                {"stsb", testing::SourcePath("models/stsb.beex")}};
    o.transport.max_receive_message_bytes = 8 << 20;
    auto s = BeexServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 << 20);  // let oversized calls leave
    stub_ = v1::Inference::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(server_->port()),
        grpc::InsecureChannelCredentials(), args));
    computed_before_ = Computed();
  }

  // Nothing a bad call sent was computed, and a good call still works.
  void TearDown() override {
    EXPECT_EQ(Computed(), computed_before_) << "a bad input reached a batch";
    v1::ClassifyResponse resp;
    ASSERT_TRUE(Classify(Sst2("a fine and moving film"), &resp).ok());
    ASSERT_EQ(resp.results_size(), 1);
  }

  static size_t Computed() {
    return server_->runner("sst2")->computed() +
           server_->runner("stsb")->computed();
  }

  grpc::Status Classify(const v1::ClassifyRequest& req,
                        v1::ClassifyResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub_->Classify(&ctx, req, resp);
  }
  grpc::Status Regress(const v1::RegressRequest& req) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::RegressResponse resp;
    return stub_->Regress(&ctx, req, &resp);
  }
  static v1::ClassifyRequest Sst2(const std::string& text) {
    v1::ClassifyRequest r;
    r.set_model("sst2");
    r.add_inputs()->set_text(text);
    return r;
  }
  void Expect(const v1::ClassifyRequest& req, grpc::StatusCode code,
              const std::string& needle) {
    v1::ClassifyResponse resp;
    const grpc::Status s = Classify(req, &resp);
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(needle));
    EXPECT_EQ(resp.results_size(), 0);
  }
  void ExpectInvalid(const v1::ClassifyRequest& req,
                     const std::string& needle) {
    Expect(req, grpc::StatusCode::INVALID_ARGUMENT, needle);
  }

  static std::unique_ptr<BeexServer> server_;
  std::unique_ptr<v1::Inference::Stub> stub_;
  size_t computed_before_ = 0;
};

std::unique_ptr<BeexServer> BadInputTest::server_;

TEST_F(BadInputTest, EmptyText) {
  ExpectInvalid(Sst2(""), "inputs[0].text is empty or only whitespace");
}

TEST_F(BadInputTest, WhitespaceOnlyText) {
  ExpectInvalid(Sst2(" \t\r\n \v\f "),
                "inputs[0].text is empty or only whitespace");
}

TEST_F(BadInputTest, OneMegabyteOfText) {
  ExpectInvalid(Sst2(std::string(1 << 20, 'a')),
                "inputs[0].text has 1048576 bytes; the limit is 16384");
}

TEST_F(BadInputTest, InvalidUtf8) {
  ExpectInvalid(Sst2("caf\xc3"),
                "inputs[0].text is not valid UTF-8 (at byte 3)");
  ExpectInvalid(Sst2("\xc0\xaf overlong slash"),
                "inputs[0].text is not valid UTF-8 (at byte 0)");
}

TEST_F(BadInputTest, NulBytes) {
  using std::string_literals::operator""s;
  ExpectInvalid(Sst2("a good\0 film"s),
                "inputs[0].text contains a NUL byte (at byte 6)");
  v1::RegressRequest req;
  req.set_model("stsb");
  req.add_inputs()->set_text("a cat sits");
  req.mutable_inputs(0)->set_text_pair("\0\0\0"s);
  const grpc::Status s = Regress(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("inputs[0].text_pair contains a NUL byte (at byte 0)"));
}

TEST_F(BadInputTest, PairOnASingleSentenceModel) {
  v1::ClassifyRequest req = Sst2("one sentence");
  req.mutable_inputs(0)->set_text_pair("and another");
  ExpectInvalid(req, "text_pair is not allowed: model sst2");
}

TEST_F(BadInputTest, SingleSentenceOnAPairModel) {
  v1::RegressRequest req;
  req.set_model("stsb");
  req.add_inputs()->set_text("only half of a pair");
  const grpc::Status s = Regress(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("inputs[0]: text_pair is required"));
}

TEST_F(BadInputTest, TenThousandItemsInOneRequest) {
  v1::ClassifyRequest req;
  req.set_model("sst2");
  for (int i = 0; i < 10000; ++i) req.add_inputs()->set_text("fine");
  ExpectInvalid(req, "inputs has 10000 items; allowed 1..256");
}

TEST_F(BadInputTest, NoItems) {
  v1::ClassifyRequest req;
  req.set_model("sst2");
  ExpectInvalid(req, "inputs has 0 items; allowed 1..256");
}

TEST_F(BadInputTest, UnknownModel) {
  v1::ClassifyRequest req = Sst2("fine");
  req.set_model("no-such-model");
  Expect(req, grpc::StatusCode::NOT_FOUND, "'no-such-model'");
  req.set_model("");
  Expect(req, grpc::StatusCode::NOT_FOUND, "''");
}

TEST_F(BadInputTest, UnknownExitPolicy) {
  v1::ClassifyRequest req = Sst2("fine");
  req.mutable_exit()->set_policy(static_cast<v1::ExitPolicy>(99));
  ExpectInvalid(req, "exit.policy 99 is unknown");
}

TEST_F(BadInputTest, OutOfRangeExitSettings) {
  v1::ClassifyRequest req = Sst2("fine");
  auto* exit = req.mutable_exit();
  exit->set_policy(v1::EXIT_POLICY_CONFIDENCE);
  exit->set_threshold(1.5f);
  ExpectInvalid(req,
                "exit.threshold is 1.5 for policy confidence; allowed 0..1");
  exit->set_threshold(-0.1f);
  ExpectInvalid(req, "exit.threshold is -0.1");
  exit->set_threshold(std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(req, "exit.threshold is not finite");
  exit->set_threshold(std::numeric_limits<float>::infinity());
  ExpectInvalid(req, "exit.threshold is not finite");
  exit->set_threshold(0.9f);
  exit->set_max_layers(7);
  ExpectInvalid(req, "exit.max_layers is 7; allowed 0..6");
  exit->set_max_layers(0);
  exit->set_policy(v1::EXIT_POLICY_PATIENCE);
  exit->set_patience(6);
  ExpectInvalid(req, "exit.patience is 6; allowed 1..5");
}

TEST_F(BadInputTest, ClassProbabilityPolicyOnARegressionModel) {
  v1::RegressRequest req;
  req.set_model("stsb");
  req.add_inputs()->set_text("a cat sits");
  req.mutable_inputs(0)->set_text_pair("a cat is sitting");
  req.mutable_exit()->set_policy(v1::EXIT_POLICY_ENTROPY);
  const grpc::Status s = Regress(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("regression models take"));
}

// gRPC refuses it before the service sees it.
TEST_F(BadInputTest, OversizedMessage) {
  v1::ClassifyRequest req = Sst2(std::string(9 << 20, 'a'));
  Expect(req, grpc::StatusCode::RESOURCE_EXHAUSTED, "larger than max");
}

TEST_F(BadInputTest, NoDeadlineIsServed) {
  grpc::ClientContext ctx;  // no deadline set
  v1::ClassifyResponse resp;
  const grpc::Status s = stub_->Classify(&ctx, Sst2("a warm film"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.results_size(), 1);
  computed_before_ += 1;
}

TEST_F(BadInputTest, DeadlineAlreadyPast) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() - absl::Seconds(1)));
  v1::ClassifyResponse resp;
  const grpc::Status s = stub_->Classify(&ctx, Sst2("a warm film"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(resp.results_size(), 0);
}

}  // namespace
}  // namespace beex
