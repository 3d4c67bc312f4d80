#include "server/metrics.h"

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/beex_metrics.h"
#include "tests/prometheus_text.h"

namespace beex::metrics {
namespace {

using ::beex::testing::ParsePrometheusText;
using ::beex::testing::PromLabels;

TEST(FormatValueTest, IntegersPlainOthersShortestRoundTrip) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(7), "7");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(1e20), "1e+20");
  EXPECT_EQ(FormatValue(HUGE_VAL), "+Inf");
  EXPECT_EQ(FormatValue(-HUGE_VAL), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  const double third = 1.0 / 3;
  EXPECT_EQ(std::stod(FormatValue(third)), third);
}

TEST(EscapeTest, LabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
}

TEST(NameTest, FollowsTheFormat) {
  EXPECT_TRUE(IsValidMetricName("beex_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9x"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidMetricName("a b"));
  EXPECT_TRUE(IsValidLabelName("model"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("1a"));
}

TEST(RegistryTest, RefusesBadOrCollidingNames) {
  Registry r;
  EXPECT_FALSE(r.AddCounter("bad-name", "h", {}).ok());
  EXPECT_FALSE(r.AddCounter("c", "h", {"bad:label"}).ok());
  EXPECT_FALSE(r.AddCounter("c", "h", {"__reserved"}).ok());
  EXPECT_FALSE(r.AddCounter("c", "h", {"a", "a"}).ok());
  EXPECT_FALSE(r.AddHistogram("h", "h", {"le"}, {1}).ok());
  ASSERT_TRUE(r.AddCounter("c", "h", {}).ok());
  EXPECT_EQ(r.AddGauge("c", "h", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(r.AddHistogram("lat", "h", {}, {1}).ok());
  EXPECT_FALSE(r.AddCounter("lat_count", "h", {}).ok());
  EXPECT_FALSE(r.AddGauge("lat_bucket", "h", {}).ok());
  ASSERT_TRUE(r.AddGauge("x_sum", "h", {}).ok());
  EXPECT_FALSE(r.AddHistogram("x", "h", {}, {1}).ok());
  // A histogram may carry labels other than le; an empty label list is fine.
  EXPECT_TRUE(r.AddHistogram("y", "h", {"model"}, {}).ok());
}

TEST(CounterTest, NeverGoesDown) {
  Counter c;
  c.Inc();
  c.Inc(2.5);
  c.Inc(-1);
  c.Inc(std::nan(""));
  c.Inc(HUGE_VAL);
  EXPECT_EQ(c.Value(), 3.5);
}

TEST(GaugeTest, SetAndAdd) {
  Gauge g;
  g.Set(4);
  g.Add(-1.5);
  EXPECT_EQ(g.Value(), 2.5);
}

TEST(HistogramTest, BucketsByUpperBoundInclusive) {
  Histogram h({5, 1, 2, 2, HUGE_VAL, std::nan("")});
  EXPECT_EQ(h.bounds(), (std::vector<double>{1, 2, 5}));
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 7.0}) h.Observe(v);
  h.Observe(std::nan(""));
  const Histogram::Snapshot s = h.Snap();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.sum, 17.0);
}

TEST(FamilyDeathTest, WrongNumberOfLabelValuesAborts) {
  Registry r;
  CounterFamily* c = *r.AddCounter("c_total", "h", {"a", "b"});
  EXPECT_DEATH(c->Get({"only one"}), "label values");
}

TEST(RenderTest, ExactText) {
  Registry r;
  CounterFamily* c = *r.AddCounter("req_total", "Requests.\nSecond line \\.",
                                   {"model", "code"});
  GaugeFamily* g = *r.AddGauge("depth", "Queue depth.", {});
  HistogramFamily* h =
      *r.AddHistogram("lat_seconds", "Latency.", {"model"}, {0.5, 1});
  ASSERT_TRUE(r.AddCounter("unused_total", "Never touched.", {"model"}).ok());
  c->Get({"b", "OK"}).Inc(2);
  c->Get({"a\"\\\n", "OK"}).Inc();
  g->Get({}).Set(3);
  h->Get({"m"}).Observe(0.25);
  h->Get({"m"}).Observe(0.75);
  h->Get({"m"}).Observe(4);
  EXPECT_EQ(r.Render(),
            "# HELP req_total Requests.\\nSecond line \\\\.\n"
            "# TYPE req_total counter\n"
            "req_total{model=\"a\\\"\\\\\\n\",code=\"OK\"} 1\n"
            "req_total{model=\"b\",code=\"OK\"} 2\n"
            "# HELP depth Queue depth.\n"
            "# TYPE depth gauge\n"
            "depth 3\n"
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{model=\"m\",le=\"0.5\"} 1\n"
            "lat_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
            "lat_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n"
            "lat_seconds_sum{model=\"m\"} 5\n"
            "lat_seconds_count{model=\"m\"} 3\n"
            "# HELP unused_total Never touched.\n"
            "# TYPE unused_total counter\n");
}

TEST(RenderTest, UnlabelledHistogramAndEscapesRoundTrip) {
  Registry r;
  HistogramFamily* h = *r.AddHistogram("h", "H.", {}, {1});
  CounterFamily* c = *r.AddCounter("c_total", "C.", {"v"});
  h->Get({}).Observe(2);
  const std::string nasty = "quote\" back\\slash\nnew line, comma} brace=\"";
  c->Get({nasty}).Inc();
  const std::string text = r.Render();
  EXPECT_NE(text.find("h_bucket{le=\"1\"} 0\n"), std::string::npos) << text;
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->Value("c_total", {{"v", nasty}}), 1.0);
  EXPECT_EQ(parsed->Value("h_count"), 1.0);
}

TEST(ConcurrencyTest, IncrementsFromManyThreadsAreExact) {
  Registry r;
  CounterFamily* c = *r.AddCounter("c_total", "C.", {"t"});
  HistogramFamily* h = *r.AddHistogram("h", "H.", {"t"}, {1, 2, 3});
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string label = t % 2 ? "odd" : "even";
      for (int i = 0; i < kIters; ++i) {
        c->Get({label}).Inc();
        h->Get({"all"}).Observe(i % 4);
      }
    });
  }
  // Scrapes while the writers run must always be well-formed, +Inf == count
  // included.
  for (int i = 0; i < 20; ++i) {
    auto parsed = ParsePrometheusText(r.Render());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
  }
  for (auto& t : threads) t.join();
  auto parsed = ParsePrometheusText(r.Render());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("c_total", {{"t", "odd"}}), 2.0 * kIters);
  EXPECT_EQ(parsed->Value("c_total", {{"t", "even"}}), 2.0 * kIters);
  EXPECT_EQ(parsed->Value("h_count", {{"t", "all"}}), kThreads * kIters);
  EXPECT_EQ(parsed->Value("h_bucket", {{"t", "all"}, {"le", "1"}}),
            kThreads * kIters / 2);
  EXPECT_EQ(parsed->Value("h_sum", {{"t", "all"}}), kThreads * kIters * 1.5);
}

// The checker must catch each rule broken, or the tests above prove nothing.
TEST(CheckerTest, RefusesTextThatBreaksTheFormat) {
  const char* kTypeH = "# TYPE h histogram\n";
  const std::vector<std::string> bad = {
      "# TYPE c counter\nc 1",  // no final newline
      "# TYPE 9c counter\n9c 1\n",
      "# TYPE c counter\nc{a-b=\"x\"} 1\n",
      "# TYPE c counter\nc{a=\"x\\t\"} 1\n",
      "# TYPE c counter\nc{a=\"x} 1\n",
      "# TYPE c counter\nc{a=\"x\",a=\"y\"} 1\n",
      "# TYPE c counter\nc 1\nc 2\n",
      "# TYPE c counter\nc -1\n",
      "# TYPE c counter\nc one\n",
      "# TYPE c counter\nc 0x10\n",
      "c 1\n",                                   // no TYPE
      "# TYPE c counter\nc 1\n# HELP c late\n",  // HELP after samples
      "# TYPE c counter\n# TYPE c gauge\nc 1\n",
      "# TYPE c countr\nc 1\n",
      "# HELP c bad \\t escape\n# TYPE c counter\nc 1\n",
      "# TYPE c gauge\nc{a=\"1\"} 1\n# TYPE d gauge\nd 1\nc{a=\"2\"} 1\n",
      std::string(kTypeH) + "h_bucket{le=\"+Inf\"} 1\nh_sum 1\n",
      std::string(kTypeH) + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
      std::string(kTypeH) +
          "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} "
          "1\nh_sum 1\nh_count 1\n",
      std::string(kTypeH) +
          "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count "
          "1\n",
      std::string(kTypeH) + "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
      std::string(kTypeH) + "h_bucket 1\nh_sum 1\nh_count 1\n",
      std::string(kTypeH) + "h 1\n",
  };
  for (const std::string& text : bad) {
    EXPECT_FALSE(ParsePrometheusText(text).ok()) << text;
  }
  const std::string good =
      "# a comment\n\n# HELP c fine \\\\ \\n\n# TYPE c counter\n"
      "c{a=\"x\",} 1 1700000000000\n" +
      std::string(kTypeH) +
      "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
  auto parsed = ParsePrometheusText(good);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Family("c")->help, "fine \\ \n");
  EXPECT_EQ(parsed->Value("h_sum"), 3.5);
}

}  // namespace
}  // namespace beex::metrics

namespace beex {
namespace {

using ::beex::testing::ParsePrometheusText;

TEST(BeexMetricsTest, RecordsWhatHappened) {
  auto created = BeexMetrics::Create();
  ASSERT_TRUE(created.ok()) << created.status();
  BeexMetrics& m = **created;
  m.RegisterModel("sst2", 6);
  m.RegisterModel("stsb", 4);

  // Registered models read 0 before their first request.
  {
    auto before = ParsePrometheusText(m.Render());
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(before->Value("beex_inflight_requests", {{"model", "stsb"}}), 0);
    EXPECT_EQ(before->Value("beex_exit_layer_bucket",
                            {{"model", "stsb"}, {"le", "4"}}),
              0);
  }

  m.RecordRequest("sst2", "Classify", 0, 0.002);
  m.RecordRequest("sst2", "Classify", 0, 0.004);
  m.RecordRequest("sst2", "Classify", 3, 0.0001);
  m.RecordRequest("no-such-model", "Classify", 5, 0.0001);
  m.RecordRequest("", "ListModels", 0, 0.0001);
  m.RecordQueue("sst2", 0.001);
  m.RecordBatch("sst2", 3, 40, 0.003);
  for (int layer : {1, 3, 6}) m.RecordExit("sst2", layer, 6);
  m.RecordExit("stsb", 2, 4);
  m.RecordDropped("sst2", "deadline");
  m.SetQueueDepth("sst2", 7);
  m.AddInflight("sst2", 1);
  m.AddInflight("sst2", 1);
  m.AddInflight("sst2", -1);

  const std::string text = m.Render();
  auto p = ParsePrometheusText(text);
  ASSERT_TRUE(p.ok()) << p.status() << "\n" << text;

  using L = ::beex::testing::PromLabels;
  EXPECT_EQ(
      p->Value("beex_requests_total",
               L{{"model", "sst2"}, {"method", "Classify"}, {"code", "OK"}}),
      2);
  EXPECT_EQ(p->Value("beex_requests_total", L{{"model", "sst2"},
                                              {"method", "Classify"},
                                              {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(p->Value("beex_requests_total", L{{"model", "(unknown)"},
                                              {"method", "Classify"},
                                              {"code", "NOT_FOUND"}}),
            1);
  EXPECT_EQ(
      p->Value("beex_requests_total",
               L{{"model", ""}, {"method", "ListModels"}, {"code", "OK"}}),
      1);
  EXPECT_EQ(p->Value("beex_request_duration_seconds_count",
                     L{{"model", "sst2"}, {"method", "Classify"}}),
            3);
  EXPECT_EQ(
      p->Value("beex_request_duration_seconds_bucket",
               L{{"model", "sst2"}, {"method", "Classify"}, {"le", "0.0025"}}),
      2);
  EXPECT_EQ(p->Value("beex_queue_duration_seconds_count", L{{"model", "sst2"}}),
            1);
  EXPECT_EQ(p->Value("beex_compute_duration_seconds_sum", L{{"model", "sst2"}}),
            0.003);
  EXPECT_EQ(
      p->Value("beex_batch_size_bucket", L{{"model", "sst2"}, {"le", "2"}}), 0);
  EXPECT_EQ(
      p->Value("beex_batch_size_bucket", L{{"model", "sst2"}, {"le", "4"}}), 1);
  EXPECT_EQ(p->Value("beex_batch_tokens_sum", L{{"model", "sst2"}}), 40);

  // One bucket per layer, le="1".."6", then +Inf.
  const std::vector<double> cumulative = {1, 1, 2, 2, 2, 3};
  for (int l = 1; l <= 6; ++l) {
    EXPECT_EQ(p->Value("beex_exit_layer_bucket",
                       L{{"model", "sst2"}, {"le", std::to_string(l)}}),
              cumulative[l - 1])
        << l;
  }
  EXPECT_FALSE(
      p->Value("beex_exit_layer_bucket", L{{"model", "sst2"}, {"le", "7"}}));
  EXPECT_EQ(
      p->Value("beex_exit_layer_bucket", L{{"model", "stsb"}, {"le", "2"}}), 1);
  EXPECT_EQ(p->Value("beex_exit_layer_sum", L{{"model", "sst2"}}), 10);
  EXPECT_NEAR(*p->Value("beex_block_flops_saved_total", L{{"model", "sst2"}}),
              (1 - 1 / 6.0) + (1 - 3 / 6.0) + 0.0, 1e-12);
  EXPECT_EQ(p->Value("beex_block_flops_saved_total", L{{"model", "stsb"}}),
            0.5);
  EXPECT_EQ(p->Value("beex_dropped_requests_total",
                     L{{"model", "sst2"}, {"reason", "deadline"}}),
            1);
  EXPECT_EQ(p->Value("beex_queue_depth", L{{"model", "sst2"}}), 7);
  EXPECT_EQ(p->Value("beex_inflight_requests", L{{"model", "sst2"}}), 1);

  // Naming conventions: prefix, units, _total on counters.
  for (const auto& f : p->families) {
    EXPECT_EQ(f.name.rfind("beex_", 0), 0u) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    if (f.type == "counter") {
      EXPECT_EQ(f.name.substr(f.name.size() - 6), "_total") << f.name;
    }
    if (f.name.find("duration") != std::string::npos) {
      EXPECT_EQ(f.name.substr(f.name.size() - 8), "_seconds") << f.name;
    }
  }
}

}  // namespace
}  // namespace beex
