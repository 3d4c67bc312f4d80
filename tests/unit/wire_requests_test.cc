// The server parses Classify and Regress requests as the wire twins in
// server/proto/beex/server/wire_requests.proto. They must stay field for
// field the public messages, strings turned into bytes, or clients' fields
// would be silently dropped.
#include <string>

#include "beex/server/wire_requests.pb.h"
#include "beex/v1/inference.pb.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

void ExpectTwin(const Descriptor* pub, const Descriptor* twin) {
  SCOPED_TRACE(pub->full_name());
  ASSERT_EQ(pub->field_count(), twin->field_count());
  for (int i = 0; i < pub->field_count(); ++i) {
    const FieldDescriptor* p = pub->field(i);
    const FieldDescriptor* t = twin->FindFieldByNumber(p->number());
    ASSERT_NE(t, nullptr) << p->name() << " has no twin";
    EXPECT_EQ(p->name(), t->name());
    EXPECT_EQ(p->is_repeated(), t->is_repeated()) << p->name();
    EXPECT_EQ(p->has_presence(), t->has_presence()) << p->name();
    if (p->type() == FieldDescriptor::TYPE_STRING) {
      EXPECT_EQ(t->type(), FieldDescriptor::TYPE_BYTES) << p->name();
    } else {
      EXPECT_EQ(p->type(), t->type()) << p->name();
    }
    if (p->type() == FieldDescriptor::TYPE_MESSAGE &&
        p->message_type() != t->message_type()) {
      ExpectTwin(p->message_type(), t->message_type());
    }
  }
}

TEST(WireRequestsTest, TwinsMatchThePublicMessages) {
  ExpectTwin(v1::ClassifyRequest::descriptor(),
             server::wire::ClassifyRequest::descriptor());
  ExpectTwin(v1::RegressRequest::descriptor(),
             server::wire::RegressRequest::descriptor());
}

TEST(WireRequestsTest, PublicBytesParseIntoTheTwin) {
  v1::ClassifyRequest pub;
  pub.set_model("m");
  auto* in = pub.add_inputs();
  in->set_text("one");
  in->set_text_pair("two");
  pub.mutable_exit()->set_policy(v1::EXIT_POLICY_PATIENCE);
  pub.mutable_exit()->set_patience(2);
  server::wire::ClassifyRequest twin;
  ASSERT_TRUE(twin.ParseFromString(pub.SerializeAsString()));
  EXPECT_EQ(twin.model(), "m");
  ASSERT_EQ(twin.inputs_size(), 1);
  EXPECT_EQ(twin.inputs(0).text(), "one");
  EXPECT_TRUE(twin.inputs(0).has_text_pair());
  EXPECT_EQ(twin.inputs(0).text_pair(), "two");
  EXPECT_EQ(twin.exit().patience(), 2u);
}

TEST(WireRequestsTest, TwinAcceptsInvalidUtf8ThatThePublicParserRefuses) {
  server::wire::ClassifyRequest twin;
  twin.add_inputs()->set_text("bad \xc3\x28");
  const std::string bytes = twin.SerializeAsString();
  v1::ClassifyRequest pub;
  EXPECT_FALSE(pub.ParseFromString(bytes));
  server::wire::ClassifyRequest back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.inputs(0).text(), "bad \xc3\x28");
}

}  // namespace
}  // namespace beex
