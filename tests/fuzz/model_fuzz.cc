// A model built from arbitrary bundle bytes (Model::FromBundle, what the
// server runs on every load and SIGHUP reload): a bundle whose header,
// tokenizer and tensors disagree must be refused with an error, never crash
// the server that was serving the old one; a model that loads must tokenize
// and predict within its own spec.
// Input: see BundleBytes (bundle_frame.h). The committed seeds, each framed by
// tests/fuzz/frame_bundle.py (header and data as in the file, the data CRC
// left to the framing, so that mutations reach the architecture, the exit
// defaults and the tensors):
// - act8, act1: the single-input classifiers of tests/python/quant_golden.py;
//   act0 is act8 with float activations;
// - pair-regress-{act0,act1,act8,dense}: sentence-pair regressors trained by
//   tests/python/tiny_fixture.py (--act-bits 0, 1, 8; --dense), with
//   learning-to-exit heads and patience or learned default policies.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/bundle.h"
#include "engine/model.h"
#include "tests/fuzz/bundle_frame.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto bundle =
      beex::Bundle::Parse(beex::fuzz::BundleBytes(data, size), "fuzz");
  if (!bundle.ok()) return 0;
  auto model = beex::Model::FromBundle(*bundle, "fuzz", "fuzz");
  if (!model.ok()) {
    FUZZ_CHECK(!model.status().message().empty());
    return 0;
  }
  const beex::ModelSpec& spec = (*model)->spec();
  beex::ExitSettings full_depth;
  full_depth.policy = beex::ExitPolicyKind::kNone;
  std::vector<beex::PreparedInput> batch;
  for (std::string_view text :
       {std::string_view("amber river"),
        std::string_view("quiet stone lantern meadow copper violet harbor "
                         "thistle echo willow granite saffron ember orchard "
                         "amber river quiet stone lantern meadow copper")}) {
    auto tokens = (*model)->Tokenize(
        {text, spec.pair_input ? std::optional<std::string_view>("echo willow")
                               : std::nullopt});
    if (!tokens.ok()) continue;
    FUZZ_CHECK(tokens->ids.size() == tokens->type_ids.size());
    FUZZ_CHECK(static_cast<int>(tokens->ids.size()) <= spec.max_tokens);
    batch.push_back({*tokens, spec.default_exit});
    batch.push_back({*std::move(tokens), full_depth});
  }
  const auto predictions = (*model)->Predict(batch);
  FUZZ_CHECK(predictions.size() == batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& p = predictions[i];
    FUZZ_CHECK(p.exit_layer >= 1 && p.exit_layer <= spec.num_layers);
    if (batch[i].exit.policy == beex::ExitPolicyKind::kNone) {
      FUZZ_CHECK(p.exit_layer == spec.num_layers);
    }
    if (spec.task == beex::Task::kClassification) {
      FUZZ_CHECK(p.scores.size() == spec.labels.size());
    }
  }
  return 0;
}
