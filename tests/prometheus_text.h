#ifndef BEEX_TESTS_PROMETHEUS_TEXT_H_
#define BEEX_TESTS_PROMETHEUS_TEXT_H_

// A strict reader of the Prometheus text exposition format 0.0.4 for tests:
// it parses every line and refuses text that breaks the format's rules, and
// a few that a good exporter keeps although the format does not demand them
// (a TYPE for every family, HELP and TYPE before the family's samples).
//
//   auto text = beex::testing::ParsePrometheusText(body);
//   ASSERT_TRUE(text.ok()) << text.status();
//   text->Value("beex_requests_total", {{"model", "sst2"}, ...});

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace beex::testing {

using PromLabels = std::map<std::string, std::string>;

struct PromSample {
  std::string name;
  PromLabels labels;
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string help;
  std::string type;
  std::vector<PromSample> samples;
};

struct PromText {
  std::vector<PromFamily> families;  // in the order of the text

  // The value of the sample with exactly these labels, if there is one.
  std::optional<double> Value(std::string_view name,
                              const PromLabels& labels = {}) const {
    for (const PromFamily& f : families) {
      for (const PromSample& s : f.samples) {
        if (s.name == name && s.labels == labels) return s.value;
      }
    }
    return std::nullopt;
  }
  const PromFamily* Family(std::string_view name) const {
    for (const PromFamily& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
};

namespace prom_internal {

inline bool IsName(std::string_view s, bool colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || (colon && c == ':') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Reads a name of [a-zA-Z_:][a-zA-Z0-9_:]* (no ':' for labels) at `pos`.
inline std::string_view TakeName(std::string_view line, size_t& pos,
                                 bool colon) {
  const size_t start = pos;
  while (pos < line.size() &&
         IsName(line.substr(start, pos - start + 1), colon)) {
    ++pos;
  }
  return line.substr(start, pos - start);
}

// Undoes the escapes in `allowed` (a set of characters that may follow a
// backslash, 'n' meaning newline); any other escape is an error.
inline absl::StatusOr<std::string> Unescape(std::string_view s,
                                            std::string_view allowed) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 == s.size() || allowed.find(s[i + 1]) == std::string_view::npos) {
      return absl::InvalidArgumentError("invalid escape sequence in '" +
                                        std::string(s) + "'");
    }
    ++i;
    out.push_back(s[i] == 'n' ? '\n' : s[i]);
  }
  return out;
}

// Debian's Abseil has its own string_view, so StrSplit does not take
// std::string_view; this split does. At most `max_parts` parts, the last
// holding the rest.
inline std::vector<std::string_view> Split(std::string_view s, char sep,
                                           bool skip_empty,
                                           size_t max_parts = SIZE_MAX) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at =
        out.size() + 1 == max_parts ? std::string_view::npos : s.find(sep);
    const std::string_view part = s.substr(0, at);
    if (!(skip_empty && part.empty())) out.push_back(part);
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

inline std::optional<double> ParseValue(std::string_view s) {
  if (s == "+Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    // strtod also reads hex, "inf" and "nan" spellings, which the format
    // does not have.
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-')) {
      return std::nullopt;
    }
  }
  const std::string str(s);
  char* end = nullptr;
  const double v = std::strtod(str.c_str(), &end);
  if (end != str.c_str() + str.size()) return std::nullopt;
  return v;
}

inline std::string SeriesKey(const std::string& name, const PromLabels& l) {
  std::string k = name + "{";
  for (const auto& [n, v] : l) absl::StrAppend(&k, n, "=\"", v, "\",");
  return k + "}";
}

inline absl::Status CheckHistogram(const PromFamily& f) {
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // le, count
    std::optional<double> sum, count;
  };
  std::map<PromLabels, Series> series;
  for (const PromSample& s : f.samples) {
    PromLabels rest = s.labels;
    const std::string where = SeriesKey(s.name, s.labels);
    if (s.name == f.name + "_bucket") {
      auto le = rest.find("le");
      if (le == rest.end()) {
        return absl::InvalidArgumentError(where + ": bucket without le");
      }
      const std::optional<double> bound = ParseValue(le->second);
      if (!bound || std::isnan(*bound)) {
        return absl::InvalidArgumentError(where + ": le is not a number");
      }
      rest.erase(le);
      if (std::isnan(s.value) || s.value < 0 ||
          s.value != std::floor(s.value)) {
        return absl::InvalidArgumentError(
            where + ": bucket count is not a non-negative integer");
      }
      series[rest].buckets.emplace_back(*bound, s.value);
    } else {
      if (rest.count("le")) {
        return absl::InvalidArgumentError(where + ": le outside a bucket");
      }
      auto& slot =
          s.name == f.name + "_sum" ? series[rest].sum : series[rest].count;
      slot = s.value;
    }
  }
  for (const auto& [labels, s] : series) {
    const std::string where = SeriesKey(f.name, labels);
    if (s.buckets.empty() || !std::isinf(s.buckets.back().first) ||
        s.buckets.back().first < 0) {
      return absl::InvalidArgumentError(where +
                                        ": the last bucket is not le=\"+Inf\"");
    }
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (!(s.buckets[i].first > s.buckets[i - 1].first)) {
        return absl::InvalidArgumentError(
            where + ": le bounds not strictly increasing");
      }
      if (s.buckets[i].second < s.buckets[i - 1].second) {
        return absl::InvalidArgumentError(where +
                                          ": bucket counts not cumulative");
      }
    }
    if (!s.sum || !s.count) {
      return absl::InvalidArgumentError(where + ": missing _sum or _count");
    }
    if (*s.count != s.buckets.back().second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": _count ", *s.count, " differs from +Inf ",
                       s.buckets.back().second));
    }
  }
  return absl::OkStatus();
}

}  // namespace prom_internal

inline absl::StatusOr<PromText> ParsePrometheusText(std::string_view text) {
  using prom_internal::IsName;
  using prom_internal::TakeName;
  static const std::set<std::string> kTypes = {"counter", "gauge", "histogram",
                                               "summary", "untyped"};
  PromText out;
  if (text.empty()) return out;
  if (text.back() != '\n') {
    return absl::InvalidArgumentError("the text does not end with a newline");
  }
  text.remove_suffix(1);
  std::map<std::string, size_t> index;  // family name -> position in out
  std::set<std::string> sampled;        // families with a sample already
  std::set<std::string> series;
  std::set<std::string> helped;  // families with a HELP line
  auto family = [&](const std::string& name) -> PromFamily& {
    auto [it, fresh] = index.emplace(name, out.families.size());
    if (fresh) out.families.push_back({name, "", "", {}});
    return out.families[it->second];
  };
  int n = 0;
  for (std::string_view line : prom_internal::Split(text, '\n', false)) {
    ++n;
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError("line " + std::to_string(n) + ": " +
                                        std::string(what) + ": " +
                                        std::string(line));
    };
    if (line.empty()) continue;
    std::string fam_name;
    if (line[0] == '#') {
      const std::vector<std::string_view> parts =
          prom_internal::Split(line, ' ', false, 4);
      if (parts.size() < 3 || parts[0] != "#" ||
          (parts[1] != "HELP" && parts[1] != "TYPE")) {
        continue;  // a comment
      }
      const std::string name(parts[2]);
      if (!IsName(name, true)) return error("invalid metric name");
      if (!out.families.empty() && out.families.back().name != name &&
          index.count(name)) {
        return error("metric's lines are not one group");
      }
      if (sampled.count(name)) return error("HELP or TYPE after samples");
      PromFamily& f = family(name);
      const std::string_view rest = parts.size() > 3 ? parts[3] : "";
      if (parts[1] == "HELP") {
        if (!helped.insert(name).second) return error("second HELP");
        auto help = prom_internal::Unescape(rest, "\\n");
        if (!help.ok()) return error(help.status().ToString());
        f.help = *help;
      } else {
        if (!f.type.empty()) return error("second TYPE");
        if (!kTypes.count(std::string(rest))) return error("unknown type");
        f.type = std::string(rest);
      }
      continue;
    }

    // name{label="value",...} value [timestamp]
    size_t pos = 0;
    PromSample s;
    s.name = std::string(TakeName(line, pos, true));
    if (s.name.empty()) return error("invalid metric name");
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (true) {
        if (pos < line.size() && line[pos] == '}') {
          ++pos;
          break;
        }
        const std::string label(TakeName(line, pos, false));
        if (label.empty()) return error("invalid label name");
        if (pos + 1 >= line.size() || line[pos] != '=' ||
            line[pos + 1] != '"') {
          return error("expected =\" after a label name");
        }
        pos += 2;
        const size_t start = pos;
        while (pos < line.size() && line[pos] != '"') {
          pos += line[pos] == '\\' ? 2 : 1;
        }
        if (pos >= line.size()) return error("unterminated label value");
        auto value =
            prom_internal::Unescape(line.substr(start, pos - start), "\\\"n");
        if (!value.ok()) return error(value.status().ToString());
        ++pos;
        if (!s.labels.emplace(label, *value).second) {
          return error("repeated label name");
        }
        if (pos < line.size() && line[pos] == ',') {
          ++pos;
        } else if (pos >= line.size() || line[pos] != '}') {
          return error("expected , or } after a label");
        }
      }
    }
    if (pos >= line.size() || line[pos] != ' ') {
      return error("expected a space before the value");
    }
    const std::vector<std::string_view> fields =
        prom_internal::Split(line.substr(pos + 1), ' ', true);
    if (fields.empty() || fields.size() > 2) {
      return error("expected a value and an optional timestamp");
    }
    const std::optional<double> value = prom_internal::ParseValue(fields[0]);
    if (!value) return error("invalid value");
    s.value = *value;
    if (fields.size() == 2) {
      for (char c : fields[1]) {
        if (!((c >= '0' && c <= '9') || c == '-')) {
          return error("invalid timestamp");
        }
      }
    }

    // The family: the current histogram's when the name is one of its
    // sample names, else the sample's own name.
    fam_name = s.name;
    if (!out.families.empty() && out.families.back().type == "histogram") {
      const std::string& h = out.families.back().name;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (s.name == h + suffix) fam_name = h;
      }
    }
    if (index.count(fam_name) && out.families.back().name != fam_name) {
      return error("metric's lines are not one group");
    }
    PromFamily& f = family(fam_name);
    if (f.type.empty()) return error("sample without a TYPE line before it");
    if (f.type == "histogram" && s.name == f.name) {
      return error("histogram sample without _bucket, _sum or _count");
    }
    if (f.type == "counter" && (std::isnan(s.value) || s.value < 0)) {
      return error("counter is negative or NaN");
    }
    if (!series.insert(prom_internal::SeriesKey(s.name, s.labels)).second) {
      return error("repeated series");
    }
    sampled.insert(fam_name);
    f.samples.push_back(std::move(s));
  }
  for (const PromFamily& f : out.families) {
    if (f.type == "histogram") {
      if (absl::Status st = prom_internal::CheckHistogram(f); !st.ok()) {
        return st;
      }
    }
  }
  return out;
}

}  // namespace beex::testing

#endif  // BEEX_TESTS_PROMETHEUS_TEXT_H_
