#ifndef BEEX_SERVER_METRICS_H_
#define BEEX_SERVER_METRICS_H_

// A small metrics registry with the Prometheus text exposition format 0.0.4
// (Debian 12 has no prometheus-cpp). Increments are relaxed atomics on a
// series the caller already holds; finding a series by its label values takes
// a reader lock, and only the first use of a label set takes the writer lock.

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace beex::metrics {

// A value that only goes up.
class Counter {
 public:
  // Negative, NaN and infinite increments are ignored: a counter must never
  // go down, and one bad sample must not poison it forever.
  void Inc(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted in buckets by upper bound (a value equal to a bound
// falls in that bucket), plus a +Inf bucket, their sum and count.
class Histogram {
 public:
  // Bounds are sorted and deduplicated; non-finite ones are dropped (the
  // +Inf bucket is always there).
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1, the last is +Inf
    double sum = 0;
    uint64_t count = 0;  // equals cumulative.back()
  };
  // The count is derived from the buckets so that +Inf always equals it even
  // while other threads observe.
  Snapshot Snap() const;

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // non-cumulative
  std::atomic<double> sum_{0.0};
};

// Orders label-value lists, so a lookup with string_views finds a key stored
// as strings without building one.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

enum class Type { kCounter, kGauge, kHistogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type,
             std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family's HELP, TYPE and sample lines to `out`.
  virtual void Render(std::string& out) const = 0;

 protected:
  // Aborts when the number of values is not the number of label names: that
  // is a bug in the caller, and a series with missing labels would be wrong.
  void CheckArity(size_t n) const;
  void RenderHeader(std::string& out) const;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};

// Series of one metric, one per label-value list. References returned by Get
// stay valid as long as the family lives; hot paths may keep them.
template <typename T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;

  std::vector<std::pair<std::vector<std::string>, const T*>> Series() const {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<std::pair<std::vector<std::string>, const T*>> out;
    out.reserve(series_.size());
    for (const auto& [values, s] : series_) out.emplace_back(values, s.get());
    return out;
  }

 protected:
  T& GetOrCreate(std::span<const std::string_view> values,
                 absl::FunctionRef<std::unique_ptr<T>()> make) {
    CheckArity(values.size());
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = series_.find(values);
      if (it != series_.end()) return *it->second;
    }
    absl::MutexLock lock(&mu_);
    auto it = series_.find(values);
    if (it != series_.end()) return *it->second;
    std::vector<std::string> key(values.begin(), values.end());
    return *series_.emplace(std::move(key), make()).first->second;
  }

  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, LabelValuesLess>
      series_ ABSL_GUARDED_BY(mu_);
};

using Labels = std::initializer_list<std::string_view>;

class CounterFamily final : public Family<Counter> {
 public:
  using Family::Family;
  Counter& Get(std::span<const std::string_view> values);
  Counter& Get(Labels values) { return Get({values.begin(), values.size()}); }
  void Render(std::string& out) const override;
};

class GaugeFamily final : public Family<Gauge> {
 public:
  using Family::Family;
  Gauge& Get(std::span<const std::string_view> values);
  Gauge& Get(Labels values) { return Get({values.begin(), values.size()}); }
  void Render(std::string& out) const override;
};

class HistogramFamily final : public Family<Histogram> {
 public:
  HistogramFamily(std::string name, std::string help,
                  std::vector<std::string> label_names,
                  std::vector<double> default_bounds);
  // A new series gets the family's default bounds...
  Histogram& Get(std::span<const std::string_view> values);
  Histogram& Get(Labels values) { return Get({values.begin(), values.size()}); }
  // ...or its own, e.g. one bucket per layer of each model. Bounds only
  // apply when this call creates the series.
  Histogram& Get(Labels values, const std::vector<double>& bounds);
  void Render(std::string& out) const override;

 private:
  const std::vector<double> default_bounds_;
};

// Families in registration order. Names are checked against the format's
// rules and against each other (a histogram also owns name_bucket, name_sum
// and name_count).
class Registry {
 public:
  absl::StatusOr<CounterFamily*> AddCounter(std::string name, std::string help,
                                            std::vector<std::string> labels);
  absl::StatusOr<GaugeFamily*> AddGauge(std::string name, std::string help,
                                        std::vector<std::string> labels);
  absl::StatusOr<HistogramFamily*> AddHistogram(std::string name,
                                                std::string help,
                                                std::vector<std::string> labels,
                                                std::vector<double> bounds);

  // The whole registry in the text exposition format 0.0.4.
  std::string Render() const;

 private:
  absl::Status Check(const std::string& name,
                     const std::vector<std::string>& labels, Type type) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checks a new family against the rules and the others, then keeps it.
  template <typename F>
  absl::StatusOr<F*> Adopt(std::unique_ptr<F> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// The Content-Type of Registry::Render's output.
inline constexpr char kContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Rules of the format, exposed for tests and callers that build names.
bool IsValidMetricName(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidLabelName(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*
// A sample value: integers without a fraction, others in the shortest form
// that reads back to the same double; +Inf, -Inf, NaN.
std::string FormatValue(double v);
// Label values escape backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view v);
// HELP text escapes backslash and newline.
std::string EscapeHelp(std::string_view v);

}  // namespace beex::metrics

#endif  // BEEX_SERVER_METRICS_H_
