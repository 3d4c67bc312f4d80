#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace beex::metrics {
namespace {

bool IsNameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
    return true;
  }
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

// `{a="x",b="y"` without the closing brace, so a histogram can append `le`.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values) {
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "{" : ",", names[i], "=\"",
                    EscapeLabelValue(values[i]), "\"");
  }
}

void AppendSample(std::string& out, std::string_view name,
                  const std::vector<std::string>& names,
                  const std::vector<std::string>& values, double v) {
  out.append(name);
  AppendLabels(out, names, values);
  if (!names.empty()) out.push_back('}');
  absl::StrAppend(&out, " ", FormatValue(v), "\n");
}

std::vector<double> CleanBounds(std::vector<double> bounds) {
  bounds.erase(std::remove_if(bounds.begin(), bounds.end(),
                              [](double b) { return !std::isfinite(b); }),
               bounds.end());
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  return IsValidName(name, /*colon=*/true);
}

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name, /*colon=*/false);
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

void Counter::Inc(double v) {
  if (!(v >= 0) || std::isinf(v)) return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(CleanBounds(std::move(bounds))), buckets_(bounds_.size() + 1) {}

void Histogram::Observe(double v) {
  // NaN compares false with every bound and lands in +Inf; it would make the
  // sum NaN forever, so it is not observed at all.
  if (std::isnan(v)) return;
  const size_t i =
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(buckets_.size());
  uint64_t total = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

FamilyBase::FamilyBase(std::string name, std::string help, Type type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::CheckArity(size_t n) const {
  if (n == label_names_.size()) return;
  // stderr, not the logger: this is the last line the process writes.
  std::fprintf(stderr, "metric %s: %zu label values for labels (%s)\n",
               name_.c_str(), n, absl::StrJoin(label_names_, ",").c_str());
  std::abort();
}

void FamilyBase::RenderHeader(std::string& out) const {
  static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
  absl::StrAppend(&out, "# HELP ", name_, " ", EscapeHelp(help_), "\n",
                  "# TYPE ", name_, " ", kTypeNames[static_cast<int>(type_)],
                  "\n");
}

Counter& CounterFamily::Get(std::span<const std::string_view> values) {
  return GetOrCreate(values, [] { return std::make_unique<Counter>(); });
}

void CounterFamily::Render(std::string& out) const {
  RenderHeader(out);
  for (const auto& [values, c] : Series()) {
    AppendSample(out, name_, label_names_, values, c->Value());
  }
}

Gauge& GaugeFamily::Get(std::span<const std::string_view> values) {
  return GetOrCreate(values, [] { return std::make_unique<Gauge>(); });
}

void GaugeFamily::Render(std::string& out) const {
  RenderHeader(out);
  for (const auto& [values, g] : Series()) {
    AppendSample(out, name_, label_names_, values, g->Value());
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> default_bounds)
    : Family(std::move(name), std::move(help), Type::kHistogram,
             std::move(label_names)),
      default_bounds_(CleanBounds(std::move(default_bounds))) {}

Histogram& HistogramFamily::Get(std::span<const std::string_view> values) {
  return GetOrCreate(
      values, [this] { return std::make_unique<Histogram>(default_bounds_); });
}

Histogram& HistogramFamily::Get(Labels values,
                                const std::vector<double>& bounds) {
  return GetOrCreate({values.begin(), values.size()},
                     [&] { return std::make_unique<Histogram>(bounds); });
}

void HistogramFamily::Render(std::string& out) const {
  RenderHeader(out);
  const std::string bucket = name_ + "_bucket";
  for (const auto& [values, h] : Series()) {
    const Histogram::Snapshot s = h->Snap();
    for (size_t i = 0; i < s.cumulative.size(); ++i) {
      out += bucket;
      AppendLabels(out, label_names_, values);
      const std::string le =
          i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
      absl::StrAppend(&out, label_names_.empty() ? "{" : ",", "le=\"", le,
                      "\"} ", FormatValue(s.cumulative[i]), "\n");
    }
    AppendSample(out, name_ + "_sum", label_names_, values, s.sum);
    AppendSample(out, name_ + "_count", label_names_, values, s.count);
  }
}

absl::Status Registry::Check(const std::string& name,
                             const std::vector<std::string>& labels,
                             Type type) const {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric name '", name, "' does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& l = labels[i];
    if (!IsValidLabelName(l) || l.rfind("__", 0) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label name '", l,
                       "' does not match [a-zA-Z_][a-zA-Z0-9_]* or starts "
                       "with the reserved __"));
    }
    if (type == Type::kHistogram && l == "le") {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram ", name, ": the label 'le' is reserved for buckets"));
    }
    if (std::find(labels.begin(), labels.begin() + i, l) !=
        labels.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label '", l, "' repeats"));
    }
  }
  // Every sample name the new family writes must be free, and must not be a
  // sample name of a family already there.
  auto sample_names = [](const std::string& n, Type t) {
    std::vector<std::string> out = {n};
    if (t == Type::kHistogram) {
      out.push_back(n + "_bucket");
      out.push_back(n + "_sum");
      out.push_back(n + "_count");
    }
    return out;
  };
  const std::vector<std::string> mine = sample_names(name, type);
  for (const auto& f : families_) {
    for (const std::string& theirs : sample_names(f->name(), f->type())) {
      if (std::find(mine.begin(), mine.end(), theirs) != mine.end()) {
        return absl::AlreadyExistsError(
            absl::StrCat("metric ", name, " collides with metric ", f->name()));
      }
    }
  }
  return absl::OkStatus();
}

template <typename F>
absl::StatusOr<F*> Registry::Adopt(std::unique_ptr<F> family) {
  absl::MutexLock lock(&mu_);
  if (auto s = Check(family->name(), family->label_names(), family->type());
      !s.ok()) {
    return s;
  }
  F* out = family.get();
  families_.push_back(std::move(family));
  return out;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(
    std::string name, std::string help, std::vector<std::string> labels) {
  return Adopt(std::make_unique<CounterFamily>(
      std::move(name), std::move(help), Type::kCounter, std::move(labels)));
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(
    std::string name, std::string help, std::vector<std::string> labels) {
  return Adopt(std::make_unique<GaugeFamily>(std::move(name), std::move(help),
                                             Type::kGauge, std::move(labels)));
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(
    std::string name, std::string help, std::vector<std::string> labels,
    std::vector<double> bounds) {
  return Adopt(std::make_unique<HistogramFamily>(
      std::move(name), std::move(help), std::move(labels), std::move(bounds)));
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& f : families_) f->Render(out);
  return out;
}

}  // namespace beex::metrics
