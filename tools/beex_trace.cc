// beex-trace: every exit's output for each input, as the engine computes it,
// whatever the bundle's exit policy. train/calibrate.py sweeps exit policies
// over these, so a bundle is calibrated on exactly what it serves with.
//
//   beex-trace --model M.beex < inputs.tsv > traces.txt
//
// Input: one input a line, `text` or `text<TAB>text_pair`.
// Output: a first line `layers outputs lte` (lte: 1 when the model has
// learning-to-exit heads), then one line an input: layers x outputs values
// (logits, or the raw regression value), then layers LTE scores if lte is 1.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/model.h"

namespace {

constexpr size_t kBatch = 64;

int Fail(const std::string& message) {
  std::fprintf(stderr, "beex-trace: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::string_view(argv[1]) != "--model") {
    std::fprintf(stderr, "usage: beex-trace --model M.beex < inputs.tsv\n");
    return 2;
  }
  auto model = beex::Model::Load(argv[2]);
  if (!model.ok()) return Fail(std::string(model.status().message()));

  std::vector<std::string> lines;
  for (std::string line; std::getline(std::cin, line);) lines.push_back(line);

  bool header_written = false;
  for (size_t first = 0; first < lines.size(); first += kBatch) {
    std::vector<beex::Tokens> batch;
    for (size_t i = first; i < std::min(lines.size(), first + kBatch); ++i) {
      const std::string_view line = lines[i];
      const size_t tab = line.find('\t');
      beex::TextPair input{line.substr(0, tab), std::nullopt};
      if (tab != std::string_view::npos) input.text_pair = line.substr(tab + 1);
      auto tokens = (*model)->Tokenize(input);
      if (!tokens.ok()) {
        return Fail("line " + std::to_string(i + 1) + ": " +
                    std::string(tokens.status().message()));
      }
      batch.push_back(*std::move(tokens));
    }
    for (const auto& trace : (*model)->TraceExits(batch)) {
      if (!header_written) {
        std::printf("%zu %zu %d\n", trace.outputs.size(),
                    trace.outputs.front().size(), trace.lte.empty() ? 0 : 1);
        header_written = true;
      }
      const char* sep = "";
      for (const auto& exit : trace.outputs) {
        for (float v : exit) std::printf("%s%.9g", std::exchange(sep, " "), v);
      }
      for (float v : trace.lte) std::printf(" %.9g", v);
      std::printf("\n");
    }
  }
  return 0;
}
