#ifndef BEEX_TESTS_GOLDEN_CASES_H_
#define BEEX_TESTS_GOLDEN_CASES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"

namespace beex::testing {

// One input of a golden file written at export (train/train.py,
// tests/python/quant_golden.py): its text, PyTorch's token ids and the
// outputs of every exit.
struct GoldenCase {
  std::string text_a;
  std::optional<std::string> text_b;
  std::vector<int32_t> ids, type_ids;
  std::vector<std::vector<float>> outputs;  // [layer][output]
  std::vector<float> lte;  // learning-to-exit scores, when the model has them
};

// The "cases" of a golden document (see ReadJson).
inline std::vector<GoldenCase> GoldenCases(
    const google::protobuf::Struct& doc) {
  std::vector<GoldenCase> cases;
  for (const auto& c : doc.fields().at("cases").list_value().values()) {
    const auto& f = c.struct_value().fields();
    GoldenCase g;
    g.text_a = f.at("text_a").string_value();
    if (f.at("text_b").has_string_value())
      g.text_b = f.at("text_b").string_value();
    for (const auto& v : f.at("ids").list_value().values())
      g.ids.push_back(v.number_value());
    for (const auto& v : f.at("type_ids").list_value().values())
      g.type_ids.push_back(v.number_value());
    for (const auto& layer : f.at("outputs").list_value().values()) {
      g.outputs.emplace_back();
      for (const auto& v : layer.list_value().values())
        g.outputs.back().push_back(v.number_value());
    }
    if (auto lte = f.find("lte"); lte != f.end()) {
      for (const auto& v : lte->second.list_value().values())
        g.lte.push_back(v.number_value());
    }
    cases.push_back(std::move(g));
  }
  return cases;
}

}  // namespace beex::testing

#endif  // BEEX_TESTS_GOLDEN_CASES_H_
